"""The push-to-deploy pipeline behind `nox -s build push deploy` (and .forgejo/workflows/).

Why a package of its own beside the engine: pushing needs the registry credentials resolved
exactly as `gitops apply` resolves secrets, so the pipeline imports the engine (through
``reconciler``'s public surface, its ``__all__``); it is the only package that does. The
registry API client, the registry's garbage collection and the secrets pre-commit hook are
pipeline work too and live here.

    build   → images built from mcp/ and analytics/, tagged <commit sha> and <branch>
    push    → registry login, push, digest verified through the registry API
    record  → build/images.json: what was built and pushed, for `gitops apply --image`

Git is never rewritten: a deploy passes `SERVICE=REPO@sha256:…` to `gitops apply`.
"""
