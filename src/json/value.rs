//! The JSON value: what [`parse()`](super::parse()) builds and [`write()`](super::write()) writes.
//!
//! The value keeps what the text said and decides nothing for its consumer: objects keep their members in
//! text order, duplicate names included (RFC 8259 §4 leaves duplicates to the application), and a number
//! keeps an integer exactly when its text is an integer that fits an `i64`.
//!
//! `Drop`, `Clone`, `PartialEq` and [`write()`](super::write()) recurse once per level of nesting; values
//! from the parser are at most [`Limits::max_depth`](super::Limits::max_depth) deep.

/// One JSON value (RFC 8259 §3).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, integer or not.
    Number(Number),
    /// A string, escapes decoded.
    String(String),
    /// An array: its elements in text order.
    Array(Vec<Value>),
    /// An object: its members in text order. Names may repeat; nothing is merged or dropped.
    Object(Vec<(String, Value)>),
}

/// A JSON number: exact when it can be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// The text was an integer (no `.`, no exponent) that fits an `i64`: `5`, `-9223372036854775808`, and
    /// `-0`, which becomes `0`.
    Int(i64),
    /// Any other number: a fraction or exponent (`1.0`, `2e3`), or an integer too large for an `i64`. Always
    /// finite when it comes from the parser.
    Float(f64),
}

impl Value {
    /// The text of a string, `None` for every other value.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_gateway::json::Value;
    /// assert_eq!(Value::String("127.0.0.1".into()).as_str(), Some("127.0.0.1"));
    /// assert_eq!(Value::Null.as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The integer of a [`Number::Int`], `None` for every other value, [`Number::Float`] included (`5.0` is
    /// not an integer here: a config that wants a count should say `5`).
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_gateway::json::{Number, Value};
    /// assert_eq!(Value::Number(Number::Int(5)).as_i64(), Some(5));
    /// assert_eq!(Value::Number(Number::Float(5.0)).as_i64(), None);
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(Number::Int(n)) => Some(*n),
            _ => None,
        }
    }

    /// The boolean of `true` or `false`, `None` for every other value.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_gateway::json::Value;
    /// assert_eq!(Value::Bool(false).as_bool(), Some(false));
    /// assert_eq!(Value::Null.as_bool(), None);
    /// ```
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements of an array, `None` for every other value.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_gateway::json::Value;
    /// let list = Value::Array(vec![Value::Null]);
    /// assert_eq!(list.as_array(), Some(&[Value::Null][..]));
    /// assert_eq!(Value::Null.as_array(), None);
    /// ```
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members of an object in text order, duplicates included; `None` for every other value.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_gateway::json::Value;
    /// let config = Value::Object(vec![("threads".into(), Value::Null)]);
    /// let names: Vec<&str> = config.as_object().unwrap().iter().map(|(name, _)| name.as_str()).collect();
    /// assert_eq!(names, ["threads"]);
    /// ```
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The value of the first member named `name` of an object; `None` when there is none or when this is
    /// not an object. Later members with the same name are ignored here; see [`Value::as_object`] to find
    /// them.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_gateway::json::{Number, Value};
    /// let config = Value::Object(vec![
    ///     ("threads".into(), Value::Number(Number::Int(5))),
    ///     ("threads".into(), Value::Number(Number::Int(9))),
    /// ]);
    /// assert_eq!(config.get("threads").and_then(Value::as_i64), Some(5));
    /// assert_eq!(config.get("pool_size"), None);
    /// ```
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_object()?
            .iter()
            .find(|(member, _)| member == name)
            .map(|(_, value)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_answer_only_for_their_own_variant() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Number(Number::Int(7)),
            Value::Number(Number::Float(7.0)),
            Value::String("s".into()),
            Value::Array(vec![]),
            Value::Object(vec![]),
        ];
        let answers: Vec<(bool, bool, bool, bool, bool)> = values
            .iter()
            .map(|v| {
                (
                    v.as_str().is_some(),
                    v.as_i64().is_some(),
                    v.as_bool().is_some(),
                    v.as_array().is_some(),
                    v.as_object().is_some(),
                )
            })
            .collect();
        assert_eq!(
            answers,
            [
                (false, false, false, false, false),
                (false, false, true, false, false),
                (false, true, false, false, false),
                (false, false, false, false, false),
                (true, false, false, false, false),
                (false, false, false, true, false),
                (false, false, false, false, true),
            ]
        );
    }

    #[test]
    fn get_finds_the_first_member_and_nothing_outside_objects() {
        let object = Value::Object(vec![
            ("a".into(), Value::Bool(true)),
            ("b".into(), Value::Null),
            ("a".into(), Value::Bool(false)),
        ]);
        assert_eq!(object.get("a"), Some(&Value::Bool(true)));
        assert_eq!(object.get("b"), Some(&Value::Null));
        assert_eq!(object.get("c"), None);
        assert_eq!(object.get(""), None);
        let array = Value::Array(vec![Value::String("a".into())]);
        assert_eq!(array.get("a"), None);
    }
}
