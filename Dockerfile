# ---- build: compile TypeScript to dist/ ----------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
# The connectors are npm workspaces: their package.json files must be present for npm ci.
COPY connectors ./connectors
RUN npm ci --no-audit --no-fund
COPY src ./src
# The browser front ends (widget, desk) and their bundler: the build writes dist/web, which the
# hub serves at /widget.js, /web/*, /desk and /demo.
COPY web ./web
COPY tools/build-web.ts ./tools/build-web.ts
# Only src/, web/ and the bundler are copied, so dist/ holds the server and dist/web alone (no
# tests, no bench); connectors/*/dist holds the SDK and the connectors.
RUN npm run build

# ---- runtime: production dependencies, compiled code, config defaults ----------
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production PORT=8080
COPY package.json package-lock.json ./
COPY --from=build /app/connectors ./connectors
# The transcript fonts come from npm in every weight; keep only the ones the PDF renderer loads
# (src/adapters/pdf/font-faces.ts), which saves about 100 MB.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force \
  && find node_modules/@expo-google-fonts -name '*.ttf' ! -name '*_400Regular.ttf' ! -name '*_700Bold.ttf' ! -name '*_400Regular_Italic.ttf' -delete \
  && rm -f node_modules/@expo-google-fonts/noto-sans-sc/700Bold/*.ttf \
  && find node_modules/@expo-google-fonts -name '*.png' -delete
COPY --from=build /app/dist ./dist
# config/default.json is read at start; environment variables override it.
COPY config ./config

# Production must set MONGODB_URI: without it main.ts tries to start the local
# development store (FerretDB built with Go from tools/docstore), which this image
# does not contain, so the hub exits at start with an explanation.
# NODE_ENV=production also makes HUB_SECRET and SYSTEM_TOKEN mandatory.
#   docker run -p 8080:8080 -e MONGODB_URI=mongodb://db:27017/chathub \
#     -e HUB_SECRET=... -e SYSTEM_TOKEN=... chat-hub
# The same image runs a connector: override the command, e.g.
#   docker run -e HUB_URL=http://hub:8080 -e CONNECTOR_KEY=... -e SMS_AUTH_TOKEN=... \
#     -p 8081:8081 chat-hub node connectors/sms/dist/src/main.js
USER node
EXPOSE 8080

# The slim image has no curl: ask node itself. Follows PORT if it is overridden.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD node -e "require('http').get('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"

CMD ["node", "dist/src/main.js"]
