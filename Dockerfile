# syntax=docker/dockerfile:1
# MoeServe server image: the OpenAI-compatible server with the default model inside.
#
#   docker build -t moeserve:cpu .                           # CPU variant (the default)
#   docker build -t moeserve:gpu --build-arg VARIANT=gpu .   # GPU variant (same as --target gpu)
#   docker run --rm -p 8080:8080 moeserve:cpu
#   docker run --rm --gpus all -p 8080:8080 moeserve:gpu
#
# Configuration is by environment variables: every server option is MoeServe__<Option>
# (MoeServe__MaxBatchSequences=16, MoeServe__RoutingPolicy=online-bip, ...), see docs/.
# Another model: mount it and set MoeServe__ModelPath (docker run -v $PWD/models/x:/models/x
# -e MoeServe__ModelPath=/models/x ...).
# deploy/check-image.sh checks what can be checked without a Docker engine.

# cpu or gpu: which runtime stage the final image is.
ARG VARIANT=cpu
ARG DOTNET_VERSION=10.0
# ONNX Runtime 1.31's CUDA provider needs CUDA 13 and cuDNN 9. Ubuntu 24.04 like the .NET images,
# so the .NET runtime copied across finds the libraries it was built for.
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04

# ---- build: restore and publish the server --------------------------------------------------
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION}-noble AS build
WORKDIR /src
# Restore from the project files alone first, so this layer stays cached until a dependency changes.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/Router/MoeServe.Router.csproj src/Router/
COPY src/Text/MoeServe.Text.csproj src/Text/
COPY src/Model/MoeServe.Model.csproj src/Model/
COPY src/Runtime/MoeServe.Runtime.csproj src/Runtime/
COPY src/Server/MoeServe.Server.csproj src/Server/
RUN dotnet restore src/Server/MoeServe.Server.csproj
COPY src/ src/
RUN dotnet publish src/Server/MoeServe.Server.csproj -c Release --no-restore -o /app /p:UseAppHost=false

# ---- aspnet: the ASP.NET Core runtime both variants run on ----------------------------------
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}-noble AS aspnet

# ---- cpu: slim ASP.NET Core runtime image ----------------------------------------------------
FROM aspnet AS cpu
# curl only for the HEALTHCHECK below.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
COPY models/default ./models/default
ENV ASPNETCORE_URLS=http://+:8080 \
    MoeServe__ModelPath=/app/models/default \
    MoeServe__ExecutionProvider=cpu
EXPOSE 8080
# The .NET images' built-in non-root user (app, uid 1654).
USER $APP_UID
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD curl -fsS http://localhost:8080/health/ready || exit 1
ENTRYPOINT ["dotnet", "MoeServe.Server.dll"]

# ---- gpu: NVIDIA CUDA 13 runtime with the ASP.NET Core runtime copied in ----------------------
FROM ${CUDA_IMAGE} AS gpu
# .NET's own dependencies on Ubuntu 24.04 (InvariantGlobalization is on, so no ICU) and curl for
# the HEALTHCHECK.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl libssl3t64 zlib1g tzdata \
 && rm -rf /var/lib/apt/lists/*
COPY --from=aspnet /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet \
 && groupadd --gid 1654 app \
 && useradd --uid 1654 --gid app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /app ./
COPY models/default ./models/default
ENV ASPNETCORE_URLS=http://+:8080 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    MoeServe__ModelPath=/app/models/default \
    MoeServe__ExecutionProvider=cuda
EXPOSE 8080
USER 1654
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
  CMD curl -fsS http://localhost:8080/health/ready || exit 1
ENTRYPOINT ["dotnet", "MoeServe.Server.dll"]

# ---- final: the variant chosen by VARIANT (plain `docker build .` gives cpu) ------------------
FROM ${VARIANT} AS final
