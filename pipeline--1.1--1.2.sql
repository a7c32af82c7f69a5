-- pipeline 1.1 -> 1.2: hardening
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.2'" to load this file. \quit
