//! The compiled evaluator gives the tree walker's answers: random typed
//! expressions over ints, floats, bools, records, optionals, lengths, list
//! items and the numeric builtins,
//! with random inputs (overflow, division by zero, NaN and infinities
//! included), are run with every expression compiled at once and without
//! the JIT, and must give equal values or equal errors.

use flow_vm::Engine;
use flow_vm::test_support::run;
use proptest::prelude::*;
use serde_json::json;

const HEADER: &str = "type R { n: int, f: float }\n\
flow f(a: int, b: int, x: float, y: float, p: bool, q: bool, r: R, o: int?, s: string, xs: [int], k: int, fs: [float], m: map<string, int>) -> ";

fn int_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("r.n".to_string()),
        Just("len(s)".to_string()),
        Just("len(xs)".to_string()),
        Just("(o ?? 7)".to_string()),
        Just("xs[0]".to_string()),
        Just("xs[k]".to_string()),
        Just("(m[\"n\"] ?? 2)".to_string()),
        (-5i64..5).prop_map(|n| n.to_string()),
        Just("9223372036854775807".to_string()),
        Just("4611686018427387904".to_string()),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), prop_oneof![Just("+"), Just("-"), Just("*")], inner.clone())
                .prop_map(|(l, op, r)| format!("({l} {op} {r})")),
            inner.clone().prop_map(|x| format!("-{x}")),
            inner.clone().prop_map(|x| format!("abs({x})")),
            (prop_oneof![Just("min"), Just("max")], inner.clone(), inner.clone())
                .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
            (prop_oneof![Just("round"), Just("int")], float_leaf()).prop_map(|(f, x)| format!("{f}({x})")),
            (bool_leaf(), inner.clone(), inner).prop_map(|(c, t, o)| format!("(if {c} {{ {t} }} else {{ {o} }})")),
        ]
    })
}

fn float_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x".to_string()),
        Just("y".to_string()),
        Just("r.f".to_string()),
        Just("fs[1]".to_string()),
        Just("0.0".to_string()),
        Just("1.5".to_string()),
        Just("2.5".to_string()),
        Just("-0.5".to_string()),
        Just("1.0e308".to_string()),
        Just("(a / b)".to_string()),
        Just("float(a)".to_string()),
    ]
}

fn float_expr() -> impl Strategy<Value = String> {
    float_leaf().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|x| format!("abs({x})")),
            (prop_oneof![Just("min"), Just("max")], inner.clone(), inner.clone())
                .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
            (inner.clone(), prop_oneof![Just("+"), Just("-"), Just("*"), Just("/")], inner.clone())
                .prop_map(|(l, op, r)| format!("({l} {op} {r})")),
            (inner.clone(), prop_oneof![Just("+"), Just("*"), Just("/")], int_leaf())
                .prop_map(|(l, op, r)| format!("({l} {op} {r})")),
            inner.prop_map(|x| format!("-{x}")),
        ]
    })
}

fn int_leaf() -> impl Strategy<Value = String> {
    prop_oneof![Just("a".to_string()), Just("r.n".to_string()), (-2i64..3).prop_map(|n| n.to_string())]
}

fn bool_leaf() -> impl Strategy<Value = String> {
    prop_oneof![Just("p".to_string()), Just("q".to_string()), Just("(a < b)".to_string()), Just("(x >= y)".to_string())]
}

fn bool_expr() -> impl Strategy<Value = String> {
    let compare = prop_oneof![Just("<"), Just("<="), Just(">"), Just(">="), Just("=="), Just("!=")];
    let leaf = prop_oneof![
        bool_leaf(),
        (int_expr(), compare.clone(), int_expr()).prop_map(|(l, op, r)| format!("({l} {op} {r})")),
        (float_expr(), compare.clone(), float_expr()).prop_map(|(l, op, r)| format!("({l} {op} {r})")),
        (float_expr(), compare, int_expr()).prop_map(|(l, op, r)| format!("({l} {op} {r})")),
    ];
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|b| format!("!{b}")),
            (inner.clone(), prop_oneof![Just("&&"), Just("||"), Just("=="), Just("!=")], inner)
                .prop_map(|(l, op, r)| format!("({l} {op} {r})")),
        ]
    })
}

fn typed_expr() -> impl Strategy<Value = (&'static str, String)> {
    prop_oneof![
        int_expr().prop_map(|e| ("int", e)),
        float_expr().prop_map(|e| ("float", e)),
        bool_expr().prop_map(|e| ("bool", e)),
    ]
}

fn float_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(1e308),
        Just(-1e308),
        Just(0.5),
        Just(-2.5),
        Just(0.49999999999999994),
        Just(9.2e18),
        Just(-9.1e18),
        -1e3f64..1e3
    ]
}

fn int_value() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0i64), Just(i64::MAX), Just(i64::MIN), Just(-1), -1000i64..1000]
}

fn inputs() -> impl Strategy<Value = serde_json::Value> {
    (
        (int_value(), int_value(), float_value(), float_value()),
        (any::<bool>(), any::<bool>(), int_value(), float_value()),
        (proptest::option::of(int_value()), "[a-zé]{0,4}", proptest::collection::vec(-3i64..3, 0..4)),
        (-1i64..5, proptest::collection::vec(float_value(), 0..3), proptest::option::of(int_value())),
    )
        .prop_map(|((a, b, x, y), (p, q, n, f), (o, s, xs), (k, fs, m))| {
            let m = m.map_or(json!({}), |n| json!({ "n": n }));
            json!({ "a": a, "b": b, "x": x, "y": y, "p": p, "q": q, "r": { "n": n, "f": f }, "o": o, "s": s, "xs": xs, "k": k, "fs": fs, "m": m })
        })
}

fn outcome(engine: &Engine, source: &str, input: &serde_json::Value, runtime: &tokio::runtime::Runtime) -> String {
    let (outcome, _) = runtime.block_on(run(engine, source, "f", input.clone()));
    match (outcome.output, outcome.error) {
        (Some(value), _) => format!("value {value}"),
        (None, Some(error)) => format!("error {error:?}"),
        (None, None) => format!("{:?}", outcome.status),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn compiled_expressions_give_the_tree_walkers_answers((ty, expr) in typed_expr(), input in inputs()) {
        // JSON has no way to say 1e308 * 10: floats beyond it come from arithmetic only.
        let source = format!("{HEADER}{ty} {{\n  step v = {expr}\n  return v\n}}\n");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let walker = Engine::new();
        let jit = Engine::new().jit_after(Some(0));
        let expected = outcome(&walker, &source, &input, &runtime);
        let got = outcome(&jit, &source, &input, &runtime);
        prop_assert_eq!(got, expected, "{}\ninput {}", expr, input);
    }
}

#[test]
fn the_differential_test_does_compile_code() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let jit = Engine::new().jit_after(Some(0));
    let source = format!(
        "{HEADER}bool {{\n  step v = a * 2 + r.n > b && x / y < 3.5 || !p\n  step w = xs.filter(j => j * a + 1 > b)\n  return v && len(w) >= 0\n}}\n"
    );
    let input = json!({ "a": 3, "b": 4, "x": 1.0, "y": 2.0, "p": true, "q": false, "r": { "n": 1, "f": 0.5 }, "o": null, "s": "hé", "xs": [1, 2, 3], "k": 1, "fs": [0.5], "m": {} });
    assert_eq!(outcome(&jit, &source, &input, &runtime), "value true");
    assert!(jit.jit_compiled() >= 2, "the step's condition and the lambda's body: {}", jit.jit_compiled());
}

#[test]
fn list_items_and_numeric_builtins_compile() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let jit = Engine::new().jit_after(Some(0));
    let source = format!(
        "{HEADER}int {{\n  step v = range(3).map(i => abs(xs[i] - round(fs[0])) + max(a, m[\"n\"] ?? 0) * min(xs[0], k))\n  return v[2]\n}}\n"
    );
    let input = json!({ "a": 3, "b": 4, "x": 1.0, "y": 2.0, "p": true, "q": false, "r": { "n": 1, "f": 0.5 }, "o": null, "s": "", "xs": [5, -7, 9], "k": 2, "fs": [2.5], "m": { "n": 1 } });
    // abs(9 - 3) + max(3, 1) * min(5, 2)
    assert_eq!(outcome(&jit, &source, &input, &runtime), "value 12");
    assert_eq!(jit.jit_compiled(), 1, "the lambda's body, as one piece of code");
    // An index out of range gives the tree walker's error, word for word.
    let short = json!({ "a": 3, "b": 4, "x": 1.0, "y": 2.0, "p": true, "q": false, "r": { "n": 1, "f": 0.5 }, "o": null, "s": "", "xs": [5], "k": 2, "fs": [2.5], "m": { "n": 1 } });
    assert_eq!(outcome(&jit, &source, &short, &runtime), outcome(&Engine::new(), &source, &short, &runtime));
}

#[test]
fn compiling_in_the_background_gives_the_same_answers_while_the_walker_goes_on() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let source = "flow f(n: int) -> int {\n  step xs = range(n).filter(k => k * 3 + 1 > 50 && k - 2 < 900)\n  return len(xs)\n}\n";
    let input = json!({ "n": 20000 });
    let walker = Engine::new();
    let background = Engine::new().jit_in_background(0);
    let expected = runtime.block_on(run(&walker, source, "f", input.clone())).0.output;
    for _ in 0..3 {
        let got = runtime.block_on(run(&background, source, "f", input.clone())).0.output;
        assert_eq!(got, expected);
    }
    // The compile thread finishes in its own time: wait for it, boundedly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while background.jit_compiled() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(background.jit_compiled() >= 1, "the lambda's body was compiled in the background");
    assert_eq!(runtime.block_on(run(&background, source, "f", input)).0.output, expected);
}
