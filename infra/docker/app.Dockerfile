# The hm-recsys package: the Prefect worker that runs weekly-retrain, and the HTTP service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock ./
COPY recsys recsys
COPY flows flows
COPY feature_repo feature_repo
COPY prefect.yaml ./
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -c requirements.lock -e . psycopg2-binary==2.9.10
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HM_HOME=/data/hm
