# The service runs TypeScript directly on Node 24 (type stripping): no build.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY src ./src
COPY scripts ./scripts
COPY examples ./examples
USER node
EXPOSE 3000
CMD ["node", "src/main.ts"]
