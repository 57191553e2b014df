;; loop — a module whose forever() never returns, with state to resume afterwards.
;;   forever()     branches back to the top of a loop without end; only the host
;;                 can stop it (by terminating the thread/worker running it).
;;   ok() -> i32   returns 42.
;;   next() -> i32 counts calls in a mutable global and, in steps of 10, in linear
;;                 memory at address 16, and returns their sum: 11, 22, 33, … on one
;;                 instance. A host that resumes the instance after stopping forever()
;;                 must restore both to keep the sequence going.
(module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func $forever (export "forever")
    (loop $again
      br $again))
  (func $ok (export "ok") (result i32)
    i32.const 42)
  (func $next (export "next") (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 10)))
    (i32.add (global.get $calls) (i32.load (i32.const 16)))))
