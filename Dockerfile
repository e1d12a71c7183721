# The Lookout image for the scaled mode (docker-compose.yml): one image, one
# command per component.
FROM python:3.11-slim
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY lookout lookout
COPY collector collector
COPY pipeline pipeline
COPY warehouse warehouse
COPY dashboards dashboards
COPY alerts alerts
COPY access access
COPY app app
COPY clients/python clients/python
RUN pip install --no-cache-dir ./clients/python . && useradd --system lookout
USER lookout
ENTRYPOINT []
