# The server on an empty base: one static binary (x86_64-unknown-linux-musl or
# aarch64-unknown-linux-musl), the CA certificates rustls reads for API servers whose
# kubeconfig names no CA of its own, and a state directory for the audit log. No shell, no
# kubectl, no credential plugins (README "Container image"). Built by scripts/image.sh, whose
# context holds exactly these files:
#   k8s-rollout-mcp       the static binary
#   ca-certificates.crt   the CA bundle (the build machine's /etc/ssl/certs/ca-certificates.crt)
#   state/                an empty directory
FROM scratch
ARG VERSION
LABEL org.opencontainers.image.title="k8s-rollout-mcp" \
      org.opencontainers.image.description="An MCP server that makes Kubernetes rollbacks a safe, human-approved workflow" \
      org.opencontainers.image.source="https://github.com/k8s-rollout-mcp/k8s-rollout-mcp" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      io.modelcontextprotocol.server.name="io.github.k8s-rollout-mcp/k8s-rollout-mcp"
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chown=65532:65532 state/ /state/
COPY k8s-rollout-mcp /usr/local/bin/k8s-rollout-mcp
# Not root; the audit log goes to /state/k8s-rollout-mcp/audit.jsonl: mount it to keep it.
USER 65532:65532
ENV HOME=/state XDG_STATE_HOME=/state
VOLUME /state
ENTRYPOINT ["/usr/local/bin/k8s-rollout-mcp"]
