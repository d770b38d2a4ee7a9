// GraphiQL for GET /graphql, bundled from npm and served by boxoffice under /graphiql/, so the page
// needs no CDN (it works offline) and no inline script (it fits a `script-src 'self'` policy).
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import './graphiql.css';

// The page is served at the API's own URL: queries go to it, subscriptions to its WebSocket.
const url = `${window.location.origin}${window.location.pathname}`;
const fetcher = createGraphiQLFetcher({ url, subscriptionUrl: url.replace(/^http/, 'ws') });

const root = document.getElementById('graphiql');
if (!root) throw new Error('the GraphiQL page has no #graphiql element');
root.textContent = '';
createRoot(root).render(createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }));
