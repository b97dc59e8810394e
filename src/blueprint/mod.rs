//! Blueprints: the workshop apps as data (see `blueprints/`), rendered with minijinja.
