"""Precompute: corpus file -> documents and labels -> windows -> extraction (:mod:`.extract`)
-> durable blocks -> store. :mod:`.job` is the job; :mod:`.finetune` and :mod:`.verify`
run models too. Nothing here imports torch until a model runs."""
