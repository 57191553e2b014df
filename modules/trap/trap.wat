;; trap — a module whose boom() always traps.
;;   boom()       executes `unreachable`, so every call traps
;;                (a WebAssembly.RuntimeError in JavaScript hosts).
;;   ok() -> i32  returns 42; used to show that a fresh instance still works.
(module
  (memory (export "memory") 1)
  (func $boom (export "boom")
    unreachable)
  (func $ok (export "ok") (result i32)
    i32.const 42))
