"""`guard register` (registered-document fingerprints) and `guard hash-terms` (hashed term lists)."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("register", help="register confidential documents (fingerprints, no text kept)",
                       description="Add documents (any format `guard scan` reads) to a fingerprint collection: "
                                   "salted hashes of normalized text windows, no text. A rule with "
                                   "`fingerprint: {index: DIR, collection: NAME}` then flags prompts and uploads "
                                   "that hold a passage of one (aligned: the same text in the same order, not "
                                   "scattered common phrases). --background FOLDER teaches the collection its genre's "
                                   "boilerplate: k-grams of those (public or generic) documents are never matched. "
                                   "--list shows what is registered; --remove ID drops a document.")
    p.add_argument("docs", nargs="*", metavar="DOC")
    p.add_argument("--index", required=True, help="index directory (created; holds the salt, 0600)")
    p.add_argument("--collection", required=True, help="collection name (e.g. 储量报告)")
    p.add_argument("--label", help="a label kept with each document (default: none; the id is its hash)")
    p.add_argument("--background", action="append", metavar="FOLDER", default=[],
                   help="public or generic documents of the same genre (every file under FOLDER): their "
                        "k-grams are boilerplate, left out of the collection (repeatable)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--list", action="store_true", help="list the collection's documents")
    g.add_argument("--remove", metavar="ID", help="remove a document by id")
    p.set_defaults(func=run_register)

    h = sub.add_parser("hash-terms", help="turn a term list into salted hashes for the policy",
                       description="Read terms (one per line, # comments) and write them as salted hashes: a "
                                   "policy lists it as `lists: {NAME: {hashed: FILE, salt_file: S}}` and rules use "
                                   "it with `keywords_from: [NAME]`; the proxy finds the terms (Chinese ones inside "
                                   "running text too) without holding them. The salt file is created (0600) when "
                                   "missing; keep it with the policy, not with the term list.")
    h.add_argument("list", help="term list (UTF-8 text)")
    h.add_argument("--salt-file", required=True)
    h.add_argument("--out", help="output file (default: stdout)")
    h.set_defaults(func=run_hash_terms)


def _name_ok(name: str) -> str:
    from guard.errors import GuardError

    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise GuardError(f"--collection: {name!r} is not a plain name")
    return name


def run_register(args) -> int:
    from guard.errors import GuardError, PolicyError
    from guard.extract import Context, extract_into
    from guard.match import hashing
    from guard.policy import load_policy

    name = _name_ok(args.collection)
    if args.list:
        col = hashing.load_collection(args.index, name)
        for m in col.meta:
            print(f"{m['id']}  {m['chars']:8d} chars  {m['fingerprints']:6d} fingerprints  {m['registered']}  "
                  f"{m.get('label') or ''}")
        print(f"{len(col.meta)} document(s), {len(col.hashes)} fingerprints in {args.index} / {name}")
        return 0
    if args.remove:
        if not hashing.remove(args.index, name, args.remove):
            raise PolicyError(f"{args.index}: collection {name} has no document {args.remove}")
        print(f"removed {args.remove}")
        return 0
    if not args.docs and not args.background:
        raise GuardError("name documents to register (or --background FOLDER, --list, --remove)")
    limits = load_policy(None).limits

    def read(path: Path) -> tuple[bytes, str]:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise GuardError(f"{path}: cannot read: {e.strerror}") from None
        ctx = Context(limits)
        extract_into(ctx, data, None, "doc", 0)  # never the file name: it may be the secret title
        if ctx.out.problems:
            p = ctx.out.problems[0]
            raise GuardError(f"{path}: cannot read its text ({p.reason}: {p.detail})")
        return data, "\n".join(part.text for part in ctx.out.parts)

    if args.background:
        files = []
        for folder in map(Path, args.background):
            if not folder.is_dir():
                raise GuardError(f"--background {folder}: not a folder")
            files += sorted(f for f in folder.rglob("*") if f.is_file() and not f.name.startswith("."))
        if not files:
            raise GuardError(f"--background {' '.join(args.background)}: no files")
        kgrams = hashing.add_background(args.index, name, [read(f)[1] for f in files])
        print(f"background: {len(files)} document(s), {kgrams} boilerplate k-grams left out of {args.index} / {name}")
        if not args.docs:
            return 0
    texts = []
    for doc in args.docs:
        data, text = read(Path(doc))
        if len(hashing.normalize(text)) < hashing.K + hashing.W:
            raise GuardError(f"{doc}: too little text to fingerprint")
        texts.append((hashlib.sha256(data).hexdigest()[:16], args.label or "", text))
    added = hashing.register(args.index, name, texts)
    for m in added:
        print(f"registered {m['id']}  {m['chars']} chars  {m['fingerprints']} fingerprints")
    skipped = len(texts) - len(added)
    print(f"{len(added)} added{f', {skipped} already registered' if skipped else ''} to {args.index} / {name}")
    return 0


def run_hash_terms(args) -> int:
    from guard.errors import GuardError
    from guard.match import hashed_terms, hashing

    try:
        lines = Path(args.list).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise GuardError(f"{args.list}: cannot read: {e}") from None
    terms = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not terms:
        raise GuardError(f"{args.list}: no terms")
    salt = hashing.read_salt(args.salt_file, create=True)
    out = json.dumps(hashed_terms.hash_terms(terms, salt), indent=0)
    if args.out:
        Path(args.out).write_text(out + "\n", encoding="utf-8")
    else:
        sys.stdout.write(out + "\n")
    print(f"hashed {len(terms)} term(s); keep {args.list} off the proxy", file=sys.stderr)
    return 0
