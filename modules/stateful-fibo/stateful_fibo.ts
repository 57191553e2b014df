// stateful-fibo — a Fibonacci counter that keeps its state in module globals.
//
// Each call on the same instance advances the pair (a, b) -> (b, a + b) and
// returns the new b, so successive calls give 1, 2, 3, 5, 8, 13, ...
// (fibo(1), fibo(2), ... of the fibo module).  A fresh instance starts at 1
// again.  The arithmetic wraps modulo 2^64.

let previous: i64 = 0;
let current: i64 = 1;

export function stateful_fibo(): i64 {
  const next = previous + current;
  previous = current;
  current = next;
  return current;
}
