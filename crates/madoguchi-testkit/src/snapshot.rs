//! JSON made stable for snapshots: ids, times and tokens change on every run, so they
//! are replaced by what they are (`[id]`, `[time]`, `[secret]`) while every other
//! field, and the shape, stays as the API answered.

use serde_json::Value;

fn is_id_key(key: &str) -> bool {
    key == "id" || key.ends_with("Id") || key.ends_with("Ids")
}

fn is_time_key(key: &str) -> bool {
    key.ends_with("At") || key.ends_with("Time") || key == "at"
}

fn is_secret_key(key: &str) -> bool {
    key == "token" || key.ends_with("Token") || key.ends_with("Key")
}

fn mark(v: &Value, what: &str) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(|i| mark(i, what)).collect()),
        _ => Value::String(format!("[{what}]")),
    }
}

/// `v` with the values of id fields (`id`, `…Id`, `…Ids`), times (`…At`, `…Time`) and
/// secrets (`token`, `…Token`, `…Key`) replaced by `[id]`, `[time]` and `[secret]`.
/// Nulls stay null, so a missing link still shows.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, val)| {
                    let val = if is_id_key(k) {
                        mark(val, "id")
                    } else if is_time_key(k) {
                        mark(val, "time")
                    } else if is_secret_key(k) {
                        mark(val, "secret")
                    } else {
                        redact(val)
                    };
                    (k.clone(), val)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}
