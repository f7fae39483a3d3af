"""The push-to-deploy pipeline behind `nox -s build push deploy` (and .forgejo/workflows/).

Why it lives in the reconciler package: pushing needs the registry credentials resolved
exactly as `gitops apply` resolves secrets, and verifying a push needs the registry API
client; both live here, so the pipeline reuses them instead of copying them.

    build   → images built from mcp/ and analytics/, tagged <commit sha> and <branch>
    push    → registry login, push, digest verified through the registry API
    record  → build/images.json: what was built and pushed, for `gitops apply --image`

Git is never rewritten: a deploy passes `SERVICE=REPO@sha256:…` to `gitops apply`.
"""
