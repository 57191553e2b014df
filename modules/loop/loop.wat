;; loop — a module whose forever() never returns.
;;   forever()    branches back to the top of a loop without end; only the host
;;                can stop it (by terminating the thread/worker running it).
;;   ok() -> i32  returns 42.
(module
  (memory (export "memory") 1)
  (func $forever (export "forever")
    (loop $again
      br $again))
  (func $ok (export "ok") (result i32)
    i32.const 42))
