# Production image: gunicorn + whitenoise, static files collected, runs as a non-root user.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DEBUG=False \
    PORT=8000

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput \
    && useradd --create-home --uid 10001 crashbot \
    && chown -R crashbot /app
USER crashbot

EXPOSE 8000
# Run migrations once per deploy (e.g. `docker compose run web python manage.py migrate`), not on every start.
CMD ["sh", "-c", "exec gunicorn crashbot.wsgi:application --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY:-3} --access-logfile - --forwarded-allow-ips='*'"]
