# syntax=docker/dockerfile:1
# The edge API (HTTP, SignalR hub, /metrics), an Orleans client of the silos. Build context: the
# repository root.
#   docker build -f deploy/edge.Dockerfile -t shopastro/edge .
# Listens on 8080 (ASPNETCORE_HTTP_PORTS of the aspnet image). Configuration: see docker-compose.yml.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore layer: only the props and project files, so a source change does not download packages again.
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY Grains.Interfaces/ShopAstro.Grains.Interfaces.csproj Grains.Interfaces/
COPY Grains/ShopAstro.Grains.csproj Grains/
COPY Silo/ShopAstro.Silo.csproj Silo/
COPY EdgeApi/ShopAstro.EdgeApi.csproj EdgeApi/
RUN dotnet restore EdgeApi/ShopAstro.EdgeApi.csproj
COPY Grains.Interfaces/ Grains.Interfaces/
COPY Grains/ Grains/
COPY Silo/ Silo/
COPY EdgeApi/ EdgeApi/
# bin/obj of a host build must not mix in (.dockerignore excludes them; a builder that ignores it is
# covered too): the packages are already in the restore layer's cache, so this restore is offline.
RUN rm -rf -- */bin */obj \
 && dotnet publish EdgeApi/ShopAstro.EdgeApi.csproj -c Release -o /app -p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS final
WORKDIR /app
# Owned by root, read-only for the app user; wwwroot (the dashboard) is published beside the app.
COPY --from=build /app ./
ENV ASPNETCORE_HTTP_PORTS=8080
# The images' non-root "app" user.
USER $APP_UID
EXPOSE 8080
ENTRYPOINT ["dotnet", "ShopAstro.EdgeApi.dll"]
