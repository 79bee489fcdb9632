"""What every resource shares, one module per job.

schemas (the Schema base, envelopes), errors (the Api subclass and its error handlers),
json (the response encoder), auth (the API key), blueprint (the Blueprint and its
parser), conditional (ETag and If-Match), fastdump (marshmallow's dump loop, version
pinned). Import from the module that does the job.
"""
