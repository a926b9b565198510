//! [`Tiny`]: a vector optimised for zero or one element (the normal case for the dots of
//! a set member or the entries of a register), 16 bytes plus the element.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Zero, one (inline) or many (boxed) elements. Always kept canonical: `Many` holds two or
/// more elements, so structural equality is value equality.
#[derive(Clone, PartialEq, Debug, Default)]
pub enum Tiny<T> {
    /// No element.
    #[default]
    Empty,
    /// Exactly one element, inline.
    One(T),
    /// Two or more elements.
    Many(Box<Vec<T>>),
}

impl<T> Tiny<T> {
    /// The elements as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match self {
            Tiny::Empty => &[],
            Tiny::One(t) => std::slice::from_ref(t),
            Tiny::Many(v) => v.as_slice(),
        }
    }
    /// Builds the canonical form of a vector.
    pub fn from_vec(mut v: Vec<T>) -> Tiny<T> {
        match v.len() {
            0 => Tiny::Empty,
            1 => Tiny::One(v.pop().expect("one element")),
            _ => Tiny::Many(Box::new(v)),
        }
    }
    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }
    /// Whether there is no element.
    #[inline]
    pub fn is_empty(&self) -> bool {
        matches!(self, Tiny::Empty)
    }
}

impl<T: Clone> Tiny<T> {
    /// The elements as an owned vector.
    pub fn to_vec(&self) -> Vec<T> {
        self.as_slice().to_vec()
    }
}

impl<T: Serialize> Serialize for Tiny<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Tiny<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Tiny::from_vec(Vec::<T>::deserialize(d)?))
    }
}
