# One image for every part: the API, the dashboard and the simulator are `kazsat`
# subcommands (docker-compose.yml picks one per service).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KAZSAT_DATA_DIR=/data
WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir backend dashboard simulator orbit && touch backend/__init__.py dashboard/__init__.py \
        simulator/__init__.py orbit/__init__.py && pip install '.[parquet]' \
    && pip uninstall -y kazsat-monitor
COPY backend backend
COPY dashboard dashboard
COPY simulator simulator
COPY orbit orbit
COPY kazsat kazsat
COPY logsetup logsetup
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /data kazsat \
    && mkdir -p /data && chown kazsat /data

USER kazsat
EXPOSE 8000 8050
ENTRYPOINT ["kazsat"]
CMD ["api", "--host", "0.0.0.0"]
