#!/usr/bin/env bash
# Makes the compose stack's secrets once: deploy/compose/.env from
# .env.example with every empty secret set to 32 random bytes (hex), and the
# EdDSA key pair that signs access tokens under deploy/compose/secrets/.
# Never overwrites: delete a file to make it again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v openssl >/dev/null || { echo "openssl is needed" >&2; exit 1; }

if [[ -e .env ]]; then
  echo ".env exists; leaving it as it is"
else
  while IFS= read -r line; do
    if [[ $line =~ ^([A-Z0-9_]+)=$ ]]; then
      printf '%s=%s\n' "${BASH_REMATCH[1]}" "$(openssl rand -hex 32)"
    else
      printf '%s\n' "$line"
    fi
  done <.env.example >.env
  chmod 600 .env
  echo "wrote .env with fresh secrets"
fi

mkdir -p secrets
if [[ -e secrets/jwt-signing.pem ]]; then
  echo "secrets/jwt-signing.pem exists; leaving it as it is"
else
  openssl genpkey -algorithm ed25519 -out secrets/jwt-signing.pem
  openssl pkey -in secrets/jwt-signing.pem -pubout -out secrets/jwt-signing.pub.pem
  # The container runs as UID 10001: a bind-mounted secret keeps the host
  # file's mode, so it must be readable by others on this (local) machine.
  chmod 644 secrets/jwt-signing.pem secrets/jwt-signing.pub.pem
  echo "wrote secrets/jwt-signing.pem and secrets/jwt-signing.pub.pem"
fi
