//! `#[guarded]`, applied above `#[Object]`, turns each `#[auth(RULE)]` on a resolver into
//! the enforcement *and* the documentation of that rule, from one declaration:
//!
//! - the field's description gains a line `Requires: …` (visible in `schema.graphql` and in
//!   GraphiQL's docs), rendered from `RULE`;
//! - a non-null field gets async-graphql's `#[graphql(guard = "RULE")]`;
//! - a nullable field (`Option<T>`, or `Result<Option<T>>` under any alias whose name ends in
//!   `Result`, such as `ApiResult`) checks `RULE` at the top of its
//!   body with `crate::graphql::guards::allow`, which records the error and answers `None`.
//!   async-graphql's own guard would null the *parent* instead (async-graphql #1532).
//!
//! `RULE` is a guard expression: guard types combined with `.and(…)` / `.or(…)`, which may
//! use the field's arguments (`SelfOrAdmin::new(&id)`).

use proc_macro::TokenStream;
use quote::{ToTokens, quote};
use syn::{
    Attribute, Expr, FnArg, ImplItem, ItemImpl, Pat, PathArguments, ReturnType, Type,
    parse_macro_input, parse_quote, spanned::Spanned,
};

#[proc_macro_attribute]
pub fn guarded(_args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item = parse_macro_input!(input as ItemImpl);
    let mut errors = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let Some(index) = method.attrs.iter().position(|a| a.path().is_ident("auth")) else {
            continue;
        };
        let attr = method.attrs.remove(index);
        let rule: Expr = match attr.parse_args() {
            Ok(rule) => rule,
            Err(error) => {
                errors.push(error.to_compile_error());
                continue;
            }
        };
        let description = format!("Requires: {}.", describe(&rule));
        let has_docs = method.attrs.iter().any(|a| a.path().is_ident("doc"));
        if has_docs {
            method.attrs.push(parse_quote!(#[doc = ""]));
        }
        method.attrs.push(parse_quote!(#[doc = #description]));

        match nullability(&method.sig.output) {
            Nullability::NonNull => {
                let guard = rule.to_token_stream().to_string();
                // async-graphql reads one `#[graphql(…)]` per field: merge into it.
                match method
                    .attrs
                    .iter_mut()
                    .find(|a| a.path().is_ident("graphql"))
                {
                    Some(existing) => {
                        let syn::Meta::List(list) = &existing.meta else {
                            errors.push(
                                syn::Error::new(existing.span(), "expected #[graphql(…)]")
                                    .to_compile_error(),
                            );
                            continue;
                        };
                        let tokens = &list.tokens;
                        *existing = parse_quote!(#[graphql(#tokens, guard = #guard)]);
                    }
                    None => {
                        let attr: Attribute = parse_quote!(#[graphql(guard = #guard)]);
                        method.attrs.push(attr);
                    }
                }
            }
            nullable => {
                let Some(ctx) = context_arg(&method.sig.inputs) else {
                    errors.push(
                        syn::Error::new(
                            method.sig.span(),
                            "#[auth] on a nullable field needs a `ctx: &Context<'_>` argument",
                        )
                        .to_compile_error(),
                    );
                    continue;
                };
                let block = &method.block;
                method.block = match nullable {
                    Nullability::Option => parse_quote!({
                        crate::graphql::guards::allow(#ctx, #rule).await?;
                        #block
                    }),
                    _ => parse_quote!({
                        if crate::graphql::guards::allow(#ctx, #rule).await.is_none() {
                            return Ok(None);
                        }
                        #block
                    }),
                };
            }
        }
    }
    quote!(#(#errors)* #item).into()
}

enum Nullability {
    NonNull,
    Option,
    ResultOption,
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) => path.path.segments.last(),
        _ => None,
    }
}

fn first_type_arg(segment: &syn::PathSegment) -> Option<&Type> {
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

fn nullability(output: &ReturnType) -> Nullability {
    let ReturnType::Type(_, ty) = output else {
        return Nullability::NonNull;
    };
    let Some(segment) = last_segment(ty) else {
        return Nullability::NonNull;
    };
    match segment.ident.to_string().as_str() {
        "Option" => Nullability::Option,
        // `ApiResult<Option<T>>` too: an alias unrecognised here would put async-graphql's
        // guard on a nullable field, which answers by dropping the field's key.
        name if name.ends_with("Result") => match first_type_arg(segment).and_then(last_segment) {
            Some(inner) if inner.ident == "Option" => Nullability::ResultOption,
            _ => Nullability::NonNull,
        },
        _ => Nullability::NonNull,
    }
}

/// The identifier of the `&Context<'_>` argument.
fn context_arg(
    inputs: &syn::punctuated::Punctuated<FnArg, syn::token::Comma>,
) -> Option<proc_macro2::TokenStream> {
    inputs.iter().find_map(|arg| {
        let FnArg::Typed(typed) = arg else {
            return None;
        };
        let Type::Reference(reference) = typed.ty.as_ref() else {
            return None;
        };
        let is_context = last_segment(&reference.elem).is_some_and(|s| s.ident == "Context");
        match (is_context, typed.pat.as_ref()) {
            (true, Pat::Ident(ident)) => Some(ident.ident.to_token_stream()),
            _ => None,
        }
    })
}

/// Renders a rule for humans: `FreshToken.and(SelfOrAdmin::new(&id))` →
/// `a fresh token and (the user themself or an ADMIN)`.
fn describe(rule: &Expr) -> String {
    match rule {
        Expr::MethodCall(call) if call.method == "and" || call.method == "or" => {
            let joiner = call.method.to_string();
            let mut parts = vec![describe_operand(&call.receiver, &joiner)];
            parts.extend(call.args.iter().map(|arg| describe_operand(arg, &joiner)));
            parts.join(&format!(" {joiner} "))
        }
        Expr::Call(call) => describe_guard(&call.func, call.args.first()),
        Expr::Path(path) => describe_guard_path(&path.path, None),
        Expr::Paren(paren) => describe(&paren.expr),
        other => other.to_token_stream().to_string(),
    }
}

fn describe_operand(expr: &Expr, joiner: &str) -> String {
    let text = describe(expr);
    let is_other_combinator = matches!(expr, Expr::MethodCall(call)
        if (call.method == "and" || call.method == "or") && call.method != joiner);
    if is_other_combinator {
        format!("({text})")
    } else {
        text
    }
}

fn describe_guard(func: &Expr, arg: Option<&Expr>) -> String {
    match func {
        Expr::Path(path) => describe_guard_path(&path.path, arg),
        other => other.to_token_stream().to_string(),
    }
}

fn describe_guard_path(path: &syn::Path, arg: Option<&Expr>) -> String {
    // `SelfOrAdmin::new(&id)` names the guard type by its first segment.
    let name = path
        .segments
        .iter()
        .find(|s| {
            s.ident
                .to_string()
                .chars()
                .next()
                .is_some_and(char::is_uppercase)
        })
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    match name.as_str() {
        "Authenticated" => "an authenticated caller".to_owned(),
        "AnyLevel" => {
            "an authenticated caller, before the second factor too (a partial login)".to_owned()
        }
        "MfaVerified" => "a second factor shown in this session (aal 2)".to_owned(),
        "IsSelf" => "the user themself".to_owned(),
        "SelfAnyLevelOrAdmin" => {
            "the user themself (before the second factor too) or an ADMIN".to_owned()
        }
        "FreshToken" => "a fresh token".to_owned(),
        "HasRole" => {
            let role = arg
                .map(|a| a.to_token_stream().to_string())
                .and_then(|r| r.rsplit("::").next().map(|s| s.trim().to_uppercase()))
                .unwrap_or_default();
            format!("role {role}")
        }
        "SelfOrAdmin" => "the user themself or an ADMIN".to_owned(),
        "OwnerOrAdmin" => "the item's owner or an ADMIN".to_owned(),
        "VerifiedEmail" => "a verified email when REQUIRE_VERIFIED_EMAIL is on".to_owned(),
        other => other.to_owned(),
    }
}
