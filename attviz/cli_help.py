"""The examples and notes that `attviz COMMAND --help` shows below a command's options."""

EPILOGS = {
    "precompute": """examples:
  attviz precompute --model ./bbc-model --data ./bbc-model/heldout.csv --out bbc.h5 \\
      --text-column text --label-column category --id-column id
  attviz precompute --model distilbert-base-uncased-finetuned-sst-2-english \\
      --data reviews.parquet --text-column review --out reviews.h5 --device cuda --dtype float16
  attviz precompute ... --shards 8 --shard 3 --out shards/shard-00003-of-00008.h5

A killed run resumes where it stopped when started again with the same arguments
(finished blocks are kept in OUT.partial/). OUT appears only when complete.""",
    "info": """examples:
  attviz info bbc.h5
  attviz info bbc.h5 --json | jq .accuracy
  attviz info shards/          # a folder of shard stores, read as one store""",
    "finetune": """examples:
  attviz finetune --data ../shared/data/bbc/bbc-news.csv --text-column text \\
      --label-column category --id-column id --out bbc-model
  attviz finetune --data reviews.csv --text-column review --label-column stars \\
      --out reviews-model --base ./my-bert --epochs 2 --max-train-segments 0
  attviz finetune --data sst2.parquet --text-column sentence --label-column label \\
      --label-names negative,positive --out sst2-model    # labels 0/1 get names

Writes the model and tokenizer to OUT and the held-out documents to OUT/heldout.csv.
A second run with the same arguments and data reuses the saved model.""",
    "verify": """examples:
  attviz verify bbc.h5 --sample 200
  attviz verify reviews.h5 --model ./reviews-model --tolerance 1e-3

Exits 1 when a stored value differs from the eager re-run by more than --tolerance.""",
    "merge": """examples:
  attviz merge bbc.h5.shards/ --out bbc.h5
  attviz merge part1.h5 part2.h5 --out all.h5""",
    "index": """examples:
  attviz index bbc.h5
  attviz index corpus.h5.shards/      # every shard store of the folder

Reads the store once and writes it anew under a temporary name beside it, then renames it
over the original: a run stopped at any moment leaves the store as it was (it needs free
disk space for one more copy). Statistics that need the model (first_mass, last_mass,
entropy) come only from `attviz precompute`.""",
    "synth": """examples:
  attviz synth --instances 10000 --out synth-10k.h5
  attviz synth --instances 1000000 --layers 6 --heads 12 --out synth-1m.h5""",
    "shard-name": """examples:
  attviz shard-name 3 8        # shard-00003-of-00008.h5
  attviz shard-name all 4      # the names of shards 0..3 of 4, one a line, in order
  attviz shard-name '*' 8      # shard-*-of-00008.h5: a shell pattern for the shards of 8
  attviz shard-name '*' '*'    # shard-*-of-*.h5: a shell pattern for any shard store
  attviz precompute ... --shards 8 --shard 3 --out "corpus.h5.shards/$(attviz shard-name 3 8)"

A folder of shard stores so named opens as one store (attviz info, attviz merge, the
explorer) once every shard of the set is there.""",
    "export-attviz": """examples:
  attviz export-attviz bbc.h5 --out bbc-errors.json --misclassified-only --limit 500
  attviz export-attviz bbc.h5 --out tech-as-business.json --gold tech --predicted business

Writes the JSON that the original AttViz web tool opens: one document per instance, one set
per layer, one vector per head, the tokens joined by spaces as its text, the instance index
and gold label in its name. AttViz shows a document's text as HTML: export only corpora you
trust to its page. AttViz holds the whole file in the browser (about 20,000 documents of
128 tokens at most): use the filters and --limit.""",
    "import-attviz": """examples:
  attviz import-attviz example.json --out example.h5
  panel serve apps/ --args --store example.h5

Each document becomes one instance: its tokens, one layer per set and one head per vector
(names kept in the store's provenance), its output activations as the class probabilities,
the prediction their argmax, no gold label. Values may be numbers or numeric strings.""",
    "users": """examples:
  attviz users add alice --users lab-users.json --group nlp              # asks for the password
  attviz users add bob --users lab-users.json --group nlp --group hate
  printf '%s\n' "$PASSWORD" | attviz users add carol --users lab-users.json --group hate
  attviz users add alice --users lab-users.json --group nlp --update     # new password, groups
  attviz users add dana@lab.org --users lab-users.json --group nlp --no-password   # OAuth only
  attviz users remove bob --users lab-users.json
  attviz users list --users lab-users.json

The file keeps salted scrypt hashes, never a password; it is rewritten atomically and
readable by its owner only. A running server reads it again when it changes.""",
    "serve": """examples:
  export ATTVIZ_COOKIE_SECRET=$(python -c "import secrets; print(secrets.token_urlsafe(32))")
  attviz serve --root /data/stores --users lab-users.json --access access.toml
  attviz serve --root /data/stores --users lab-users.json --access access.toml \
      --address 0.0.0.0 --port 5006 --num-procs 4 --allow-websocket-origin attviz.lab.org
  attviz serve --root /data/stores --users lab-users.json --access access.toml \
      --oauth-provider github -- --oauth-redirect-uri https://attviz.lab.org/login

access.toml maps groups to folders under --root (recursively):
  [groups]
  nlp = ["bbc", "shared"]
  hate = ["tweets"]

Starts `panel serve apps/` with attviz's sign-in (/login, /logout) or Panel's OAuth provider
(key and secret in PANEL_OAUTH_KEY, PANEL_OAUTH_SECRET), signed sessions and the clean-up of
unused sessions. Options after -- go to `panel serve` unchanged.""",
}
