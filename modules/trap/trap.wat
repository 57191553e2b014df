;; trap — a module whose boom() always traps, and whose scribble(v) traps after writing.
;;   boom()          executes `unreachable`, so every call traps
;;                   (a WebAssembly.RuntimeError in JavaScript hosts).
;;   ok() -> i32     returns 42; used to show that a fresh instance still works.
;;   set(v)          writes v at byte 100 and at byte 200000 (three pages apart).
;;   scribble(v)     writes v where set does, fills bytes 250000..250099 with it, grows
;;                   memory by a page and writes v into it, then traps: a host that
;;                   undoes a failed call must undo all of that.
;;   get() -> i32    the sum of the i32 at 100, the i32 at 200000, the byte at 250000,
;;                   and the i32 at 262144 if memory has grown past 4 pages (else 0).
(module
  (memory (export "memory") 4)
  (func $boom (export "boom")
    unreachable)
  (func $ok (export "ok") (result i32)
    i32.const 42)
  (func $set (export "set") (param $v i32)
    (i32.store (i32.const 100) (local.get $v))
    (i32.store offset=199900 (i32.const 100) (local.get $v)))
  (func $scribble (export "scribble") (param $v i32)
    (call $set (local.get $v))
    (memory.fill (i32.const 250000) (local.get $v) (i32.const 100))
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 262144) (local.get $v))
    unreachable)
  (func $get (export "get") (result i32)
    (i32.add
      (i32.add (i32.load (i32.const 100)) (i32.load (i32.const 200000)))
      (i32.add
        (i32.load8_u (i32.const 250000))
        (if (result i32) (i32.gt_u (memory.size) (i32.const 4))
          (then (i32.load (i32.const 262144)))
          (else (i32.const 0)))))))
