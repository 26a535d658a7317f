//! One field of every item of a JSON list (`res["data"]`, a chat's `messages`): the
//! seqs, ticket numbers, ids or kinds a test compares with what it expects, read the
//! same way everywhere.

use serde_json::Value;

/// The integer `field` of each item of the array `items`, in order; panics on an item
/// without it.
pub fn ints(items: &Value, field: &str) -> Vec<i64> {
    array(items)
        .iter()
        .map(|item| {
            item[field]
                .as_i64()
                .unwrap_or_else(|| panic!("no integer {field} in {item}"))
        })
        .collect()
}

/// The string `field` of each item of the array `items`, in order; panics on an item
/// without it.
pub fn strs<'a>(items: &'a Value, field: &str) -> Vec<&'a str> {
    array(items)
        .iter()
        .map(|item| {
            item[field]
                .as_str()
                .unwrap_or_else(|| panic!("no string {field} in {item}"))
        })
        .collect()
}

/// The string fields `a` and `b` of each item of the array `items`, in order, as pairs
/// (a member's email and role, a department's id and name).
pub fn str_pairs(items: &Value, a: &str, b: &str) -> Vec<(String, String)> {
    array(items)
        .iter()
        .map(|item| (str_of(item, a), str_of(item, b)))
        .collect()
}

fn str_of(item: &Value, field: &str) -> String {
    item[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field} in {item}"))
        .to_owned()
}

/// The item of the array `items` whose `id` is `id`; panics when there is none.
pub fn by_id<'a>(items: &'a Value, id: &str) -> &'a Value {
    array(items)
        .iter()
        .find(|item| item["id"] == id)
        .unwrap_or_else(|| panic!("no item {id} in {items}"))
}

fn array(items: &Value) -> &Vec<Value> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {items}"))
}
