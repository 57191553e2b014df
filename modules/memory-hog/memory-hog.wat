;; memory-hog — a module that takes all the linear memory it is allowed.
;;   grow() -> i32  calls memory.grow(1) until it fails (returns -1), then
;;                  returns the final size of the memory in 64 KiB pages.
;;                  The memory declares no maximum, so only the host's limit
;;                  (or the 4 GiB wasm32 limit) stops it.
;;   ok() -> i32    returns 42.
(module
  (memory (export "memory") 1)
  (func $grow (export "grow") (result i32)
    (block $full
      (loop $more
        (br_if $full
          (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $more)))
    memory.size)
  (func $ok (export "ok") (result i32)
    i32.const 42))
