"""Local stand-ins for the distributed deployment's servers, for the demo and the tests only:
a throwaway PostgreSQL cluster (``postgres``), Debian's nginx balancing over ``facesearch
serve`` replicas (``nginx``), and the embedded Milvus standalone server (``milvus``). Real
servers, started unprivileged in a temporary folder and removed afterwards; never production
settings (trust authentication, fsync off)."""
