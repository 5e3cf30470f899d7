# syntax=docker/dockerfile:1
# A consent silo. Build context: the repository root.
#   docker build -f deploy/silo.Dockerfile -t shopastro/silo .
# Configuration: environment variables (see docker-compose.yml and README "Configuration"); the silo needs
# ConnectionStrings__Consent, ConnectionStrings__Redis, Consent__AnonymisationKey, Orleans__AdvertisedIP.

# The run image: the silo references Microsoft.AspNetCore.App (through Microsoft.Orleans.Dashboard), so it
# runs on aspnet; runtime:10.0 is enough again once Silo's *.runtimeconfig.json names only
# Microsoft.NETCore.App (--build-arg RUNTIME_IMAGE=mcr.microsoft.com/dotnet/runtime:10.0).
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore layer: only the props and project files, so a source change does not download packages again.
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY Grains.Interfaces/ShopAstro.Grains.Interfaces.csproj Grains.Interfaces/
COPY Grains/ShopAstro.Grains.csproj Grains/
COPY Silo/ShopAstro.Silo.csproj Silo/
RUN dotnet restore Silo/ShopAstro.Silo.csproj
COPY Grains.Interfaces/ Grains.Interfaces/
COPY Grains/ Grains/
COPY Silo/ Silo/
# bin/obj of a host build must not mix in (.dockerignore excludes them; a builder that ignores it is
# covered too): the packages are already in the restore layer's cache, so this restore is offline.
RUN rm -rf -- */bin */obj \
 && dotnet publish Silo/ShopAstro.Silo.csproj -c Release -o /app -p:UseAppHost=false

FROM ${RUNTIME_IMAGE} AS final
WORKDIR /app
# Owned by root, read-only for the app user.
COPY --from=build /app ./
# The images' non-root "app" user.
USER $APP_UID
# Silo-to-silo and client gateway ports (Orleans__SiloPort, Orleans__GatewayPort).
EXPOSE 11111 30000
ENTRYPOINT ["dotnet", "ShopAstro.Silo.dll"]
