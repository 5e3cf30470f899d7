using System.Text.Json.Nodes;
using Microsoft.OpenApi;

namespace ShopAstro.EdgeApi.OpenApi;

/// <summary>What a route reads or answers outside its bound parameters, for the OpenAPI document.</summary>
public static class OperationDocs
{
    /// <summary>The request's own <c>DNT</c> and <c>Sec-GPC</c> headers (rule 8 of the precedence) are read.</summary>
    public static RouteHandlerBuilder ReadsPrivacySignals(this RouteHandlerBuilder builder) => builder.AddOpenApiOperationTransformer((operation, _, _) =>
    {
        operation.Parameters ??= [];
        operation.Parameters.Add(SignalHeader("DNT", "Do Not Track: exactly 1 is the signal; absent, 0 or anything else is none."));
        operation.Parameters.Add(SignalHeader("Sec-GPC", "Global Privacy Control: exactly 1 is the signal; absent, 0 or anything else is none."));
        return Task.CompletedTask;
    });

    /// <summary>A query parameter that the route reads from the request itself.</summary>
    public static RouteHandlerBuilder WithQueryParameter(
        this RouteHandlerBuilder builder, string name, OpenApiSchema schema, string description, bool required = false) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = name, In = ParameterLocation.Query, Required = required, Description = description, Schema = schema,
                Style = ParameterStyle.Form, Explode = true,
            });
            return Task.CompletedTask;
        });

    /// <summary>Closes the set of a bound string query parameter's values.</summary>
    public static RouteHandlerBuilder WithQueryValues(this RouteHandlerBuilder builder, string name, string description, params string[] values) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            if (operation.Parameters?.OfType<OpenApiParameter>().FirstOrDefault(p => p.Name == name) is { Schema: OpenApiSchema schema } parameter)
            {
                parameter.Description = description;
                schema.Enum = [.. values.Select(v => (JsonNode)JsonValue.Create(v))];
            }

            return Task.CompletedTask;
        });

    /// <summary>Describes a bound string query parameter that carries a date or time.</summary>
    public static RouteHandlerBuilder WithQueryFormat(this RouteHandlerBuilder builder, string name, string format, string description) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            if (operation.Parameters?.OfType<OpenApiParameter>().FirstOrDefault(p => p.Name == name) is { Schema: OpenApiSchema schema } parameter)
            {
                parameter.Description = description;
                schema.Format = format;
            }

            return Task.CompletedTask;
        });

    /// <summary>Examples of the JSON request body (when there is one) and of the response with <paramref name="status"/>.</summary>
    public static RouteHandlerBuilder WithExamples(this RouteHandlerBuilder builder, string? request, string response, int status = StatusCodes.Status200OK) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            if (request is not null && operation.RequestBody?.Content?.TryGetValue("application/json", out var body) == true)
            {
                body.Example = JsonNode.Parse(request);
            }

            if (operation.Responses?.TryGetValue(status.ToString(System.Globalization.CultureInfo.InvariantCulture), out var answer) == true
                && answer.Content?.TryGetValue("application/json", out var content) == true)
            {
                content.Example = JsonNode.Parse(response);
            }

            return Task.CompletedTask;
        });

    public static OpenApiSchema Strings(IEnumerable<string> values) =>
        new() { Type = JsonSchemaType.String, Enum = [.. values.Select(v => (JsonNode)JsonValue.Create(v))] };

    /// <summary>A repeated parameter: 1 to <paramref name="max"/> of these values.</summary>
    public static OpenApiSchema ListOf(IEnumerable<string> values, int max) =>
        new() { Type = JsonSchemaType.Array, Items = Strings(values), MinItems = 1, MaxItems = max };

    public static OpenApiSchema Boolean() => new() { Type = JsonSchemaType.Boolean };

    private static OpenApiParameter SignalHeader(string name, string description) => new()
    {
        Name = name, In = ParameterLocation.Header, Required = false, Description = description,
        Schema = new OpenApiSchema { Type = JsonSchemaType.String },
    };
}
