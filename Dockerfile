# ssh-edge-agent container image.
# Build stage: the same commands CI runs (npm ci, then the TypeScript build).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# python3/make/g++ let npm build ssh2's optional native crypto binding (faster AES-GCM/ChaCha20).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY config ./config
COPY telemetry ./telemetry
COPY bin ./bin
COPY scripts/bundle.mjs ./scripts/
RUN npm run build && npm prune --omit=dev

# Runtime stage: only the built agent and its production dependencies, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/config ./config
# The revision floor and the cached assignment document live in the state dir (agent.stateDir
# reads $STATE_DIRECTORY, as under systemd): a volume, so a restarted container neither replays
# an old document nor boots without its last one.
ENV STATE_DIRECTORY=/var/lib/edge-agent
RUN mkdir -p /var/lib/edge-agent && chown node:node /var/lib/edge-agent && chmod 0700 /var/lib/edge-agent
VOLUME ["/var/lib/edge-agent"]
USER node
# Configuration: mount a file and name it (-e EDGE_AGENT_CONFIG=/etc/edge-agent/config.json),
# or pass the whole document in EDGE_AGENT_CONFIG_JSON; EDGE_AGENT_<KEY> variables override it.
# The admin endpoint listens on 127.0.0.1 inside the container by default, so nothing is
# exposed and no port is EXPOSEd. To reach it from outside, bind it beyond loopback and publish
# it yourself, e.g. -e EDGE_AGENT_ADMIN_LISTEN=0.0.0.0:9480 -p 127.0.0.1:9480:9480.
# Health: the agent's own /healthz, asked at the address the agent uses (admin.listen from
# EDGE_AGENT_ADMIN_LISTEN, EDGE_AGENT_CONFIG_JSON or the config file; 0.0.0.0 is asked on
# loopback). With the admin server disabled (admin.listen "") the check reports unhealthy.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["node", "/app/bin/edge-agent.js", "status", "--health"]
ENTRYPOINT ["node", "/app/bin/edge-agent.js"]
CMD ["run"]
