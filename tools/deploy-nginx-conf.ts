/** `npm run deploy:nginx-conf`: writes deploy/nginx.conf (for docker-compose) from deploy/nginx.conf.template. */
import { writeFileSync } from 'node:fs';
import { COMPOSE_NGINX_CONF, renderComposeNginxConfig } from './launch/nginx.js';

writeFileSync(COMPOSE_NGINX_CONF, renderComposeNginxConfig());
console.log(`wrote ${COMPOSE_NGINX_CONF}`);
