-- One database per server on the shared PostgreSQL (run once at first start).
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
