//! The `#[trio_testing::test]` attribute; use it through `trio-testing`, which documents
//! it (`trio_testing::test`).
//!
//! The expansion keeps the user's `async fn` as an inner item and wraps it in a plain
//! `#[test] fn` that runs it on a fresh trio run through `trio_testing::__private`, so
//! this crate knows nothing of trio-rs itself.

#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Error, Ident, ItemFn, Token};

/// Turns `async fn name() -> trio_core::Result<()>` into a `#[test]` that runs it on a
/// trio run and panics with the error's whole chain if it returns `Err`.
///
/// * `#[trio_testing::test]`: the system clock.
/// * `#[trio_testing::test(autojump)]`: a `MockClock` with autojump threshold 0.
/// * `#[trio_testing::test(mock_clock)]`: a `MockClock` that moves only when told to.
///
/// With a mock clock the function may take one argument, the `MockClock` it runs on.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr.into(), item.into()) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

enum ClockChoice {
    System,
    Autojump,
    Mock,
}

fn expand(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let options = Punctuated::<Ident, Token![,]>::parse_terminated.parse2(attr)?;
    let mut clock = ClockChoice::System;
    for opt in &options {
        clock = match (opt.to_string().as_str(), &clock) {
            ("autojump", ClockChoice::System) => ClockChoice::Autojump,
            ("mock_clock", ClockChoice::System) => ClockChoice::Mock,
            ("autojump" | "mock_clock", _) => {
                return Err(Error::new_spanned(
                    opt,
                    "choose one of `autojump` and `mock_clock`",
                ))
            }
            _ => {
                return Err(Error::new_spanned(
                    opt,
                    "unknown option: #[trio_testing::test] takes `autojump` or `mock_clock`",
                ))
            }
        };
    }

    let func: ItemFn = syn::parse2(item)?;
    if func.sig.asyncness.is_none() {
        return Err(Error::new_spanned(
            func.sig.fn_token,
            "#[trio_testing::test] needs an `async fn`",
        ));
    }
    if matches!(func.sig.output, syn::ReturnType::Default) {
        return Err(Error::new_spanned(
            &func.sig,
            "#[trio_testing::test] functions return trio_core::Result<()>, so a failure \
             can carry its error",
        ));
    }
    if !func.sig.generics.params.is_empty() {
        return Err(Error::new_spanned(
            &func.sig.generics,
            "#[trio_testing::test] functions cannot be generic",
        ));
    }
    let takes_clock = match func.sig.inputs.len() {
        0 => false,
        1 if !matches!(clock, ClockChoice::System) => true,
        1 => {
            return Err(Error::new_spanned(
                &func.sig.inputs,
                "only a mock-clock test (`autojump` or `mock_clock`) may take an argument, \
                 the MockClock",
            ))
        }
        _ => {
            return Err(Error::new_spanned(
                &func.sig.inputs,
                "#[trio_testing::test] functions take no arguments, or one MockClock",
            ))
        }
    };

    let attrs = &func.attrs;
    let vis = &func.vis;
    let name = &func.sig.ident;
    let body_name = format_ident!("__trio_test_body_{}", name);
    let mut inner = func.clone();
    inner.attrs.clear();
    inner.vis = syn::Visibility::Inherited;
    inner.sig.ident = body_name.clone();

    let call = match (clock, takes_clock) {
        (ClockChoice::System, _) => quote!(::trio_testing::__private::run_test(#body_name)),
        (ClockChoice::Autojump, false) => {
            quote!(::trio_testing::__private::run_test_mock(true, |_| #body_name()))
        }
        (ClockChoice::Mock, false) => {
            quote!(::trio_testing::__private::run_test_mock(false, |_| #body_name()))
        }
        (ClockChoice::Autojump, true) => {
            quote!(::trio_testing::__private::run_test_mock(true, #body_name))
        }
        (ClockChoice::Mock, true) => {
            quote!(::trio_testing::__private::run_test_mock(false, #body_name))
        }
    };

    Ok(quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() {
            #inner
            #call
        }
    })
}
