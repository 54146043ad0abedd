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
        let (role, desc) = match field_role(&field.attrs, &ident, &mut errors) {
            Some(r) => r,
            None => {
                complete = false;
                continue;
            }
        };
        let desc = desc.or_else(|| doc_text(&field.attrs));
        if !ok {
            complete = false;
        } else {
            fields.push(FieldModel {
                ident,
                ty: field.ty.clone(),
                role,
                desc,
                attrs: passthrough(&field.attrs),
                literal: None,
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
fn field_role(
    attrs: &[Attribute],
    ident: &syn::Ident,
    errors: &mut Errors,
) -> Option<(Role, Option<String>)> {
    let mut found: Option<(Role, Option<String>)> = None;
    for attr in attrs {
        let role = if attr.path().is_ident("input") {
            Role::Input
        } else if attr.path().is_ident("output") {
            Role::Output
        } else {
            continue;
        };
        if let Some((prev, _)) = &found {
            let msg = if *prev == role {
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
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("desc") {
                    if desc.is_some() {
                        return Err(meta.error("`desc` is given twice"));
                    }
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    desc = Some(lit.value());
                    Ok(())
                } else {
                    let key = meta
                        .path
                        .get_ident()
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "?".into());
                    Err(meta.error(format!(
                        "unknown key `{key}` in #[{}(...)]; the only key is `desc = \"...\"`",
                        role_name(role)
                    )))
                }
            });
            if let Err(e) = parsed {
                errors.push(e);
            }
        }
        found = Some((role, desc));
    }
    if found.is_none() && !has_unknown_attr(attrs) {
        errors.add(
            ident.span(),
            format!("field `{ident}` needs #[input] or #[output]"),
        );
    }
    found
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
