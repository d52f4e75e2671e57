//! Memory per pending step: how much the engine holds for each step that
//! has started and is waiting (here: on a host tool that does not answer
//! until released), counted by a global allocator. Run with
//! `cargo bench -p flow-vm --bench memory`; it prints the figures.

// A counting global allocator needs `unsafe impl GlobalAlloc`; nothing else does.
#![allow(unsafe_code)]

use flow_vm::{Engine, ToolError};
use serde::Deserialize;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwards to the system allocator with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Deserialize)]
struct Hold {
    #[allow(dead_code)]
    x: i64,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let pending = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (p, g) = (pending.clone(), gate.clone());
    let engine = Engine::new().tool("hold", move |_: Hold| {
        let (p, g) = (p.clone(), g.clone());
        async move {
            p.fetch_add(1, Ordering::SeqCst);
            // Each call takes one permit for good, so runs do not release each other.
            if let Ok(permit) = g.acquire().await {
                permit.forget();
            }
            Ok::<_, ToolError>(json!({ "ok": true }))
        }
    });
    let src = "tool hold(x: int) -> { ok: bool }
flow fan(xs: [int]) -> int {
  step ys = map x in xs (concurrency: 100000) {
    step h = hold(x: x)
    return h.ok
  }
  return len(ys)
}";
    let program = engine.compile(src).expect("compiles");
    for n in [10_000usize, 100_000] {
        let list: Vec<i64> = (0..n as i64).collect();
        let input = json!({ "xs": list });
        pending.store(0, Ordering::SeqCst);
        runtime.block_on(async {
            let before = LIVE.load(Ordering::SeqCst);
            let run = engine.start(&program, flow_vm::RunOptions::new("fan", input)).expect("starts");
            while pending.load(Ordering::SeqCst) < n {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let during = LIVE.load(Ordering::SeqCst);
            // The input list itself (n JSON numbers and n values) is data, not engine overhead:
            // measured apart below and subtracted.
            let per_step = (during - before) as f64 / n as f64;
            gate.add_permits(n);
            let outcome = run.wait().await;
            assert_eq!(outcome.output, Some(json!(n)));
            let data_before = LIVE.load(Ordering::SeqCst);
            let values: Vec<flow_vm::Value> = (0..n as i64).map(flow_vm::Value::Int).collect();
            let data = (LIVE.load(Ordering::SeqCst) - data_before) as f64 / n as f64;
            drop(values);
            println!(
                "{n} pending steps in a map: {per_step:.0} bytes each, of which {data:.0} is the item value; {:.0} bytes per pending step without it (this includes the host tool future, about 160 bytes)",
                per_step - data
            );
        });
    }
}
