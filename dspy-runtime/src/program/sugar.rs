//! What `program!`'s call sugar converts each named value with.

/// Turns a value passed to a stage into the field type of the stage's input: the value itself,
/// a clone of a reference, or a `String` from a `&str`.
#[diagnostic::on_unimplemented(
    message = "a stage input of type `{T}` cannot be made from `{Self}`",
    label = "expected `{T}` (or a reference to one)"
)]
pub trait IntoField<T> {
    /// The converted value.
    fn into_field(self) -> T;
}

impl<T> IntoField<T> for T {
    fn into_field(self) -> T {
        self
    }
}

impl<T: Clone> IntoField<T> for &T {
    fn into_field(self) -> T {
        self.clone()
    }
}

impl IntoField<String> for &str {
    fn into_field(self) -> String {
        self.to_string()
    }
}

/// `value.into_field()`, as a function the generated code can call with the target inferred.
pub fn into_field<T, V: IntoField<T>>(value: V) -> T {
    value.into_field()
}
