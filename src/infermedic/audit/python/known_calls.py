"""What the Python rules know about libraries: model loaders, model methods, delegation, clients.

Qualified names are matched after import-alias resolution (`import joblib as jl` →
`joblib.load`). Lists are kept here, not in the rules, so every rule agrees on what a
model or a blocking client is.
"""

from __future__ import annotations

import re

# Calls that load a model artifact (or build a model object that serves predictions).
MODEL_LOADERS = frozenset(
    {
        "joblib.load",
        "pickle.load",
        "pickle.loads",
        "cloudpickle.load",
        "dill.load",
        "skops.io.load",
        "torch.load",
        "torch.jit.load",
        "torch.hub.load",
        "onnxruntime.InferenceSession",
        "tensorflow.saved_model.load",
        "tensorflow_hub.load",
        "tensorflow.keras.models.load_model",
        "tf_keras.models.load_model",
        "keras.models.load_model",
        "keras.saving.load_model",
        "transformers.pipeline",
        "sentence_transformers.SentenceTransformer",
        "spacy.load",
        "xgboost.Booster",
        "lightgbm.Booster",
        "catboost.CatBoost",
        "whisper.load_model",
        "ultralytics.YOLO",
    }
)
# Any qualified name ending like this is a loader too (mlflow.pyfunc.load_model,
# mlflow.sklearn.load_model, bentoml.sklearn.load_model, keras `load_model`).
MODEL_LOADER_SUFFIXES = (".load_model",)
MODEL_LOADER_PREFIXES = ("mlflow.",)
# `X.from_pretrained` loads weights; tokenizers and configs are not models.
NOT_MODEL_PRETRAINED = re.compile(r"Tokenizer|Processor|FeatureExtractor|Config|ImageProcessor")
# Estimator classes built in the service are models too.
ESTIMATOR_MODULES = ("sklearn.", "xgboost.", "lightgbm.", "catboost.")

# Methods whose call on anything is a model computation.
MODEL_METHODS = frozenset(
    {
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
        "forward",
        "predict_on_batch",
        "score_samples",
        "kneighbors",
    }
)
# Methods that are a model computation only when the receiver is known to be a model.
MODEL_METHODS_ON_KNOWN_MODEL = frozenset(
    {"run", "transform", "generate", "encode", "infer", "inference", "embed", "detect"}
)

# Delegation: the callable argument runs in a worker thread, not on the event loop.
# value: index of the positional argument that holds the callable.
THREAD_DELEGATION = {
    "starlette.concurrency.run_in_threadpool": 0,
    "fastapi.concurrency.run_in_threadpool": 0,
    "asyncio.to_thread": 0,
    "anyio.to_thread.run_sync": 0,
    "asyncer.asyncify": 0,
}
TASK_SPAWNERS = frozenset({"asyncio.create_task", "asyncio.ensure_future"})

# Web frameworks: the constructor qualified name → framework.
APP_CONSTRUCTORS = {
    "fastapi.FastAPI": "fastapi",
    "fastapi.APIRouter": "fastapi",
    "starlette.applications.Starlette": "starlette",
    "starlette.routing.Router": "starlette",
    "flask.Flask": "flask",
    "flask.Blueprint": "flask",
    "quart.Quart": "quart",
    "quart.Blueprint": "quart",
    "sanic.Sanic": "sanic",
    "aiohttp.web.Application": "aiohttp",
    "aiohttp.web.RouteTableDef": "aiohttp",
    "aiohttp.web.UrlDispatcher": "aiohttp",
    "litestar.Router": "litestar",
    "tornado.web.Application": "tornado",
}
# Frameworks whose `async def` handlers run on the server's event loop.
ASGI_FRAMEWORKS = frozenset(
    {"fastapi", "starlette", "quart", "sanic", "kserve", "bentoml", "aiohttp", "ray", "litestar"}
    | {"tornado", "grpc"}
)
# Frameworks whose plain `def` handlers run on the event loop too (Tornado's IOLoop).
SYNC_ON_LOOP_FRAMEWORKS = frozenset({"tornado"})
# Tornado: handler classes, and the calls that map URL patterns to them.
TORNADO_HANDLER_BASES = frozenset({"tornado.web.RequestHandler"})
TORNADO_URL_CALLS = frozenset(
    {"tornado.web.Application", "tornado.web.url", "tornado.routing.URLSpec", "tornado.web.URLSpec"}
)
TORNADO_HANDLER_METHODS = {
    "get": "GET",
    "post": "POST",
    "put": "PUT",
    "delete": "DELETE",
    "patch": "PATCH",
    "head": "HEAD",
    "options": "OPTIONS",
}
# aiohttp: `app.router.add_post(path, handler)`, `web.post(path, handler)` in `add_routes`.
AIOHTTP_ADD_METHODS = {
    "add_get": "GET",
    "add_post": "POST",
    "add_put": "PUT",
    "add_patch": "PATCH",
    "add_delete": "DELETE",
}
AIOHTTP_ROUTE_FUNCTIONS = {
    "aiohttp.web.get": "GET",
    "aiohttp.web.post": "POST",
    "aiohttp.web.put": "PUT",
    "aiohttp.web.patch": "PATCH",
    "aiohttp.web.delete": "DELETE",
    "aiohttp.web.view": "*",
}
# Litestar's handler decorators are plain functions: `@post("/predict")`.
LITESTAR_HANDLERS = {
    f"litestar{where}.{verb}": method
    for where in ("", ".handlers")
    for verb, method in (
        ("get", "GET"),
        ("post", "POST"),
        ("put", "PUT"),
        ("patch", "PATCH"),
        ("delete", "DELETE"),
        ("route", "*"),
    )
}
RAY_SERVE_DEPLOYMENTS = frozenset({"ray.serve.deployment", "ray.serve.api.deployment"})
BENTOML_SERVICES = frozenset({"bentoml.service"})
BENTOML_APIS = frozenset({"bentoml.api", "bentoml.Service.api", "bentoml.task"})
ROUTE_DECORATOR_METHODS = {
    "get": "GET",
    "post": "POST",
    "put": "PUT",
    "delete": "DELETE",
    "patch": "PATCH",
    "head": "HEAD",
    "options": "OPTIONS",
    "api_route": "*",
    "route": "*",
    "websocket": "WEBSOCKET",
}
RESTFUL_RESOURCE_BASES = frozenset(
    {"flask_restful.Resource", "flask_restx.Resource", "flask.views.MethodView"}
)
KSERVE_MODEL_BASES = frozenset({"kserve.Model", "kserve.model.Model", "kserve.KFModel"})
KSERVE_HANDLERS = {
    "predict": "POST",
    "preprocess": "POST",
    "postprocess": "POST",
    "explain": "POST",
}

# infermedic's own instrumentation: wrapping an app with it adds `/livez`, `/readyz` and
# `/metrics` (and `/health`, `/ready` with `legacy_health=True`), answered by the middleware.
INSTRUMENT_MODULE = "infermedic.instrument"
INSTRUMENT_CALLS = frozenset(
    {
        "infermedic.instrument.instrument",
        "infermedic.instrument.middleware.instrument",
        "infermedic.instrument.InstrumentMiddleware",
        "infermedic.instrument.middleware.InstrumentMiddleware",
    }
)

# Synchronous clients whose every method call does network or disk I/O.
SYNC_CLIENT_CONSTRUCTORS = frozenset(
    {
        "redis.Redis",
        "redis.StrictRedis",
        "redis.from_url",
        "redis.Redis.from_url",
        "redis.client.Redis",
        "psycopg2.connect",
        "psycopg.connect",
        "pymysql.connect",
        "MySQLdb.connect",
        "mysql.connector.connect",
        "sqlite3.connect",
        "pymongo.MongoClient",
        "boto3.client",
        "boto3.resource",
        "requests.Session",
        "requests.session",
        "httpx.Client",
        "sqlalchemy.create_engine",
        "sqlalchemy.orm.Session",
        "elasticsearch.Elasticsearch",
        "cassandra.cluster.Cluster",
        "kafka.KafkaProducer",
        "google.cloud.bigquery.Client",
        "boto3.Session",
        "boto3.session.Session",
        "sqlalchemy.orm.sessionmaker",
        "sqlalchemy.orm.session.Session",
        "pymssql.connect",
        "cx_Oracle.connect",
        "oracledb.connect",
        "snowflake.connector.connect",
        "minio.Minio",
        "google.cloud.storage.Client",
        "azure.storage.blob.BlobServiceClient",
    }
)
# Methods of a sync client that return another handle on the same connection (no I/O yet).
SYNC_CLIENT_HANDLES = frozenset(
    {
        "cursor",
        "pipeline",
        "connect",
        "begin",
        "session",
        "Table",
        "table",
        "Bucket",
        "collection",
        "get_collection",
        "get_database",
        "scalars",
        "client",
        "resource",
        "bucket",
        "get_bucket",
        "get_blob_client",
        "get_container_client",
    }
)
# Plain blocking calls (ruff ASYNC210/220/230/251 flag these when written directly in an
# `async def`; infermedic adds them only when reached through the repo's call graph).
BLOCKING_CALLS = frozenset(
    {
        "time.sleep",
        "urllib.request.urlopen",
        "requests.get",
        "requests.post",
        "requests.put",
        "requests.delete",
        "requests.patch",
        "requests.head",
        "requests.request",
        "httpx.get",
        "httpx.post",
        "httpx.put",
        "httpx.delete",
        "httpx.patch",
        "httpx.request",
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_output",
        "subprocess.check_call",
        "os.system",
        "open",
        "io.open",
        # pandas reading a file or an upload: disk (or network) I/O plus parsing, all sync
        "pandas.read_csv",
        "pandas.read_parquet",
        "pandas.read_excel",
        "pandas.read_json",
        "pandas.read_feather",
        "pandas.read_pickle",
        "pandas.read_sql",
        "pandas.read_sql_query",
        "pandas.read_table",
        "shutil.copyfileobj",
        "shutil.copy",
        "shutil.copyfile",
        "shutil.rmtree",
        "json.load",
        "json.dump",
    }
)

# Outbound HTTP calls and where their timeout lives.
HTTP_CALLS_NEEDING_TIMEOUT = frozenset(
    {
        "requests.get",
        "requests.post",
        "requests.put",
        "requests.delete",
        "requests.patch",
        "requests.head",
        "requests.options",
        "requests.request",
        "urllib.request.urlopen",
    }
)
HTTP_CLIENT_METHODS = frozenset(
    {"get", "post", "put", "delete", "patch", "head", "options", "request", "send"}
)

EXPLAINER_PREFIXES = ("shap.", "lime.", "alibi.explainers.")
EXPLAINER_NAME = re.compile(r"Explainer$")

# Prediction-log sinks: writes that belong off the request path.
LOG_WRITE_METHODS = frozenset(
    {"to_csv", "to_parquet", "to_sql", "to_json", "insert_one", "insert_many", "put_object"}
)
LOG_WRITE_CALLS = frozenset(
    {
        "mlflow.log_metric",
        "mlflow.log_metrics",
        "mlflow.log_param",
        "mlflow.log_dict",
        "mlflow.log_table",
        "mlflow.log_text",
        "json.dump",
        "csv.writer",
        "pickle.dump",
    }
)
DB_WRITE_METHODS = frozenset(
    {
        "execute",
        "executemany",
        "commit",
        "insert",
        "add",
        "set",
        "lpush",
        "rpush",
        "xadd",
        "hset",
        "publish",
        "send",
        "put_item",
        "index",
    }
)

TORCH_MODULE_BASES = frozenset(
    {
        "torch.nn.Module",
        "torch.nn.modules.module.Module",
        "pytorch_lightning.LightningModule",
        "lightning.LightningModule",
    }
)
TORCH_LOADERS = frozenset({"torch.load", "torch.jit.load", "torch.hub.load"})
NO_GRAD_CONTEXTS = frozenset(
    {
        "torch.no_grad",
        "torch.inference_mode",
        "torch.autograd.no_grad",
        "torch.autograd.grad_mode.no_grad",
        "torch.autograd.grad_mode.inference_mode",
    }
)


# Model zoos: a call builds a network (with pretrained weights when asked).
MODEL_ZOO_FUNCTIONS = frozenset({"timm.create_model", "torchvision.models.get_model"})
_ZOO_NOT_MODELS = frozenset({"get_weight", "get_model_weights", "list_models", "get_model_builder"})
_ZOO_UPPERCASE = ("tensorflow.keras.applications.", "keras.applications.")


def _zoo_model(qualified: str) -> bool:
    """`torchvision.models.resnet18(weights=...)`, `torchvision.models.detection.
    fasterrcnn_resnet50_fpn(...)`, `timm.create_model(...)`, `keras.applications.ResNet50(...)`;
    not the weights enums (`ResNet18_Weights`) nor helpers (`preprocess_input`)."""
    if qualified in MODEL_ZOO_FUNCTIONS:
        return True
    last = qualified.rsplit(".", 1)[-1]
    if qualified.startswith("torchvision.models."):
        return last[:1].islower() and last not in _ZOO_NOT_MODELS and not last.startswith("_")
    return qualified.startswith(_ZOO_UPPERCASE) and last[:1].isupper()


def is_model_loader(qualified: str) -> bool:
    """Whether a call to `qualified` loads or builds a model."""
    if qualified in MODEL_LOADERS or _zoo_model(qualified):
        return True
    if qualified.endswith(MODEL_LOADER_SUFFIXES):
        return True
    if qualified.startswith(MODEL_LOADER_PREFIXES) and qualified.endswith(("load_model", ".load")):
        return True
    if qualified.endswith(".from_pretrained"):
        owner = qualified.rsplit(".", 2)[-2] if qualified.count(".") >= 1 else ""
        return not NOT_MODEL_PRETRAINED.search(owner)
    return False


def is_estimator_class(qualified: str) -> bool:
    """`sklearn.ensemble.RandomForestClassifier` and kin: a model built in code."""
    if not qualified.startswith(ESTIMATOR_MODULES):
        return False
    last = qualified.rsplit(".", 1)[-1]
    return last[:1].isupper() and not last.endswith(("Error", "Warning", "Dataset"))


def is_explainer(qualified: str, *, repo_class: bool = False) -> bool:
    """Whether a call to `qualified` builds an explainer: a shap/lime/alibi `*Explainer`, or,
    with `repo_class` (the caller resolved it to a class of the audited repo), any class
    named `*Explainer` (services wrap or hand-roll explainers under that name)."""
    if not EXPLAINER_NAME.search(qualified.rsplit(".", 1)[-1]):
        return False
    return repo_class or qualified.startswith(EXPLAINER_PREFIXES)
