//! `#[derive(Signature)]`: reading the struct and its field attributes.

use crate::model::{FieldModel, Role, SignatureModel, doc_text};
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Type};

/// Errors collected while reading, reported together.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub fn add(&mut self, span: proc_macro2::Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn extend(&mut self, other: Errors) {
        if let Some(e) = other.0 {
            self.push(e);
        }
    }

    pub fn into_compile_error(self) -> proc_macro2::TokenStream {
        self.0.map(|e| e.to_compile_error()).unwrap_or_default()
    }

    /// Every message, in the order reported.
    #[cfg(test)]
    pub fn messages(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|e| e.clone().into_iter().map(|e| e.to_string()))
            .collect()
    }
}

/// Reads the struct; the model is `None` only when no code can be generated at all.
pub fn parse(input: &DeriveInput) -> (Option<SignatureModel>, Errors) {
    let mut errors = Errors::default();
    if !input.generics.params.is_empty() {
        // Placeholders would need the generics too; the one error is enough to fix.
        errors.add(input.generics.span(), "a signature cannot be generic");
        return (None, errors);
    }
    // Not a struct of named fields: the impls still come, without fields, so that uses of
    // `<Name>Input` and `<Name>Output` elsewhere add no errors of their own.
    let placeholder = SignatureModel {
        vis: input.vis.clone(),
        ident: input.ident.clone(),
        instructions: None,
        fields: Vec::new(),
        declare_struct: false,
        struct_attrs: Vec::new(),
        complete: false,
    };
    let Data::Struct(data) = &input.data else {
        errors.add(
            input.ident.span(),
            "#[derive(Signature)] needs a struct with named fields marked #[input] or #[output]",
        );
        return (Some(placeholder), errors);
    };
    let Fields::Named(named) = &data.fields else {
        errors.add(
            input.ident.span(),
            "#[derive(Signature)] needs named fields, each marked #[input] or #[output]",
        );
        return (Some(placeholder), errors);
    };
    let mut fields = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut complete = true;
    for field in &named.named {
        let Some(ident) = field.ident.clone() else {
            continue;
        };
        let name = ident.to_string();
        let name = name.strip_prefix("r#").unwrap_or(&name).to_string();
        let mut ok = true;
        if seen.contains(&name) {
            // rustc reports the duplicate itself; generating it again would only repeat that.
            continue;
        }
        seen.push(name.clone());
        if let Err(msg) = dspy_grammar::check_field_name(&name) {
            // Reported; the field stays in the generated structs, which still match the struct.
            errors.add(ident.span(), msg);
        }
        if let Err(e) = check_type(&field.ty) {
            errors.push(e);
            ok = false;
        }
        let Some(RoleAttr { role, desc, labels }) = field_role(&field.attrs, &ident, &mut errors)
        else {
            complete = false;
            continue;
        };
        let desc = desc.or_else(|| doc_text(&field.attrs));
        let literal = labels.and_then(|(values, span)| match labels_enum(&field.ty) {
            Some(name) => Some((name, values)),
            None => {
                errors.add(
                    span,
                    format!(
                        "`labels` generates an enum of the labels (DSPy's `Literal[...]`): write \
                         the field's type as the enum's name, e.g. `{ident}: {}`",
                        crate::string_sig::pascal(&name)
                    ),
                );
                None
            }
        });
        if !ok {
            complete = false;
        } else {
            fields.push(FieldModel {
                ident,
                ty: field.ty.clone(),
                role,
                desc,
                attrs: passthrough(&field.attrs),
                literal,
            });
        }
    }
    // A misspelt attribute may have been meant as #[output]; rustc reports it, so stay quiet.
    let maybe_output = |f: &syn::Field| has_output_attr(&f.attrs) || has_unknown_attr(&f.attrs);
    if !fields.iter().any(|f| f.role == Role::Output) && !named.named.iter().any(maybe_output) {
        errors.add(
            input.ident.span(),
            format!(
                "signature `{}` has no output field: mark at least one field #[output]",
                input.ident
            ),
        );
    }
    let model = SignatureModel {
        vis: input.vis.clone(),
        ident: input.ident.clone(),
        instructions: doc_text(&input.attrs),
        fields,
        declare_struct: false,
        struct_attrs: Vec::new(),
        complete,
    };
    (Some(model), errors)
}

fn has_output_attr(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("output"))
}

/// An attribute rustc will report as unknown (e.g. a misspelt `#[outptu]`).
fn has_unknown_attr(attrs: &[Attribute]) -> bool {
    const KNOWN: &[&str] = &[
        "input", "output", "serde", "schemars", "doc", "allow", "expect", "warn", "deny", "cfg",
        "cfg_attr",
    ];
    attrs
        .iter()
        .any(|a| !KNOWN.iter().any(|k| a.path().is_ident(k)))
}

/// Attributes the generated structs keep.
fn passthrough(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|a| {
            a.path().is_ident("serde") || a.path().is_ident("schemars") || a.path().is_ident("doc")
        })
        .cloned()
        .collect()
}

/// The field's role and explicit description from `#[input(...)]` / `#[output(...)]`.
/// What `#[input(...)]` / `#[output(...)]` says about a field.
pub struct RoleAttr {
    pub role: Role,
    /// `desc = "..."`.
    pub desc: Option<String>,
    /// `labels = ["a", "b"]`, with the span of the list.
    pub labels: Option<(Vec<String>, proc_macro2::Span)>,
}

/// The field's role, explicit description and labels from `#[input(...)]` / `#[output(...)]`.
pub fn field_role(
    attrs: &[Attribute],
    ident: &syn::Ident,
    errors: &mut Errors,
) -> Option<RoleAttr> {
    let mut found: Option<RoleAttr> = None;
    for attr in attrs {
        let role = if attr.path().is_ident("input") {
            Role::Input
        } else if attr.path().is_ident("output") {
            Role::Output
        } else {
            continue;
        };
        if let Some(prev) = &found {
            let msg = if prev.role == role {
                format!("`{ident}` is marked #[{}] twice", role_name(role))
            } else {
                format!(
                    "`{ident}` is marked both #[input] and #[output]; a field is one or the other"
                )
            };
            errors.add(attr.span(), msg);
            continue;
        }
        let mut desc = None;
        let mut labels = None;
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("desc") {
                    if desc.is_some() {
                        return Err(meta.error("`desc` is given twice"));
                    }
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    desc = Some(lit.value());
                    Ok(())
                } else if meta.path.is_ident("labels") {
                    if labels.is_some() {
                        return Err(meta.error("`labels` is given twice"));
                    }
                    let list: syn::ExprArray = meta.value()?.parse()?;
                    labels = Some((label_values(&list, errors), list.span()));
                    Ok(())
                } else {
                    let key = meta
                        .path
                        .get_ident()
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "?".into());
                    Err(meta.error(format!(
                        "unknown key `{key}` in #[{}(...)]; the keys are `desc = \"...\"` and \
                         `labels = [\"a\", \"b\"]`",
                        role_name(role)
                    )))
                }
            });
            if let Err(e) = parsed {
                errors.push(e);
            }
        }
        found = Some(RoleAttr { role, desc, labels });
    }
    if found.is_none() && !has_unknown_attr(attrs) {
        errors.add(
            ident.span(),
            format!("field `{ident}` needs #[input] or #[output]"),
        );
    }
    found
}

/// The strings of `labels = ["a", "b"]`; anything else, an empty or a repeated label is an
/// error.
fn label_values(list: &syn::ExprArray, errors: &mut Errors) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for e in &list.elems {
        match e {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => {
                let v = s.value();
                if v.is_empty() {
                    errors.add(s.span(), "a label cannot be empty");
                } else if values.contains(&v) {
                    errors.add(s.span(), format!("the label \"{v}\" is given twice"));
                } else if let Some(other) = values
                    .iter()
                    .find(|o| crate::string_sig::pascal(o) == crate::string_sig::pascal(&v))
                {
                    errors.add(
                        s.span(),
                        format!(
                            "the labels \"{other}\" and \"{v}\" would both be the variant `{}`",
                            crate::string_sig::pascal(&v)
                        ),
                    );
                } else {
                    values.push(v);
                }
            }
            other => errors.add(
                other.span(),
                "labels are string literals: `labels = [\"business\", \"sport\"]`",
            ),
        }
    }
    if list.elems.is_empty() {
        errors.add(list.span(), "`labels = [...]` needs at least one label");
    }
    values
}

/// The enum a `labels` field names: its type `Topic`, or the `Topic` of `Option<Topic>` /
/// `Vec<Topic>`.
fn labels_enum(ty: &Type) -> Option<syn::Ident> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() || p.path.segments.len() != 1 {
        return None;
    }
    let seg = &p.path.segments[0];
    match &seg.arguments {
        syn::PathArguments::None => {
            let known = ["String", "str", "bool", "Option", "Vec", "Box"];
            let name = seg.ident.to_string();
            let primitive = name.chars().next().is_some_and(char::is_lowercase);
            (!known.contains(&name.as_str()) && !primitive).then(|| seg.ident.clone())
        }
        syn::PathArguments::AngleBracketed(args) if seg.ident == "Option" || seg.ident == "Vec" => {
            match args.args.first() {
                Some(syn::GenericArgument::Type(inner)) if args.args.len() == 1 => {
                    labels_enum(inner)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Input => "input",
        Role::Output => "output",
    }
}

/// Field types must be owned data that serializes as JSON.
pub fn check_type(ty: &Type) -> syn::Result<()> {
    let bad = |what: &str, hint: &str| {
        Err(syn::Error::new(
            ty.span(),
            format!("unsupported field type: {what}; {hint}"),
        ))
    };
    match ty {
        Type::Reference(_) => bad(
            "a reference",
            "fields must own their data (use `String` for `&str`, `Vec<T>` for `&[T]`)",
        ),
        Type::TraitObject(_) | Type::ImplTrait(_) => bad(
            "a trait object",
            "use a concrete type that derives Serialize, Deserialize and JsonSchema",
        ),
        Type::BareFn(_) => bad("a function", "fields carry data to and from the LM"),
        Type::Tuple(t) if t.elems.is_empty() => bad("`()`", "give the field a data type"),
        Type::Tuple(_) => bad("a tuple", "use a struct with named fields"),
        Type::Ptr(_) => bad("a raw pointer", "fields must own their data"),
        Type::Never(_) => bad("`!`", "give the field a data type"),
        Type::Infer(_) => bad("`_`", "write the type out"),
        Type::Paren(p) => check_type(&p.elem),
        Type::Group(g) => check_type(&g.elem),
        Type::Array(a) => check_type(&a.elem),
        Type::Slice(_) => bad("a slice", "use `Vec<T>`"),
        Type::Path(p) => {
            for seg in &p.path.segments {
                if let syn::PathArguments::AngleBracketed(args) = &seg.arguments {
                    for arg in &args.args {
                        if let syn::GenericArgument::Type(inner) = arg {
                            check_type(inner)?;
                        }
                    }
                }
            }
            Ok(())
        }
        _ => bad(
            "this kind of type",
            "use owned data that derives Serialize, Deserialize and JsonSchema",
        ),
    }
}

#[cfg(test)]
mod tests;
