using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;

namespace ShopAstro.Tests.OpenApi;

/// <summary>
/// Checks a real response against the OpenAPI document: its status must be documented for the operation, its
/// content type must be one the response names, and its body must be valid against the response's schema (JSON
/// Schema 2020-12, JsonSchema.Net). Stricter than the document itself: an object may carry no member the schema does
/// not name (the document leaves objects open for clients; the service must not send what it does not describe).
/// </summary>
public sealed class DocumentedResponses
{
    private static readonly EvaluationOptions Evaluation = new() { OutputFormat = OutputFormat.List, RequireFormatValidation = true };
    private static int s_schemas;

    private readonly JsonNode _document;
    private readonly JsonObject _definitions;
    private readonly List<(Regex Path, string Template)> _paths;

    public DocumentedResponses(JsonNode document)
    {
        _document = document;
        _definitions = Strict(Rebase(document["components"]!["schemas"]!.DeepClone())).AsObject();
        _paths = document["paths"]!.AsObject()
            .Select(p => (new Regex("^" + Regex.Replace(Regex.Escape(p.Key), @"\\\{[^}]+}", "[^/]+") + "$"), p.Key))
            .ToList();
    }

    /// <summary>The operation id the request reaches, or null when the document has no such path and method.</summary>
    public (string? OperationId, JsonNode? Operation) Find(string method, string path)
    {
        var template = _paths.FirstOrDefault(p => p.Path.IsMatch(path)).Template;
        var operation = template is null ? null : _document["paths"]![template]![method.ToLowerInvariant()];
        return (operation?["operationId"]?.GetValue<string>(), operation);
    }

    /// <summary>What is wrong with the response; empty when the document describes it.</summary>
    public IReadOnlyList<string> Check(string method, string path, int status, string? contentType, string body)
    {
        var (operationId, operation) = Find(method, path);
        if (operation is null)
        {
            return [$"{method} {path} is not in the document"];
        }

        var response = operation["responses"]?[status.ToString()];
        if (response is null)
        {
            return [$"{operationId}: status {status} is not documented (documented: {string.Join(", ", operation["responses"]!.AsObject().Select(r => r.Key))})"];
        }

        if (response["content"] is not JsonObject content)
        {
            return body.Length == 0 ? [] : [$"{operationId} {status}: documented without a body, answered with {body.Length} bytes"];
        }

        var mediaType = contentType?.Split(';')[0].Trim();
        if (mediaType is null || content[mediaType]?["schema"] is not { } schema)
        {
            return [$"{operationId} {status}: content type {contentType} is not documented ({string.Join(", ", content.Select(c => c.Key))})"];
        }

        // A text answer (health, metrics) is checked as the string it is.
        var instance = mediaType.EndsWith("json", StringComparison.Ordinal) ? body : JsonValue.Create(body).ToJsonString();
        return Validate(schema, instance).Select(error => $"{operationId} {status}: {error}").ToList();
    }

    /// <summary>The errors of <paramref name="json"/> against a schema of the document (with its components).</summary>
    public IReadOnlyList<string> Validate(JsonNode schema, string json)
    {
        var root = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$defs"] = _definitions.DeepClone(),
            ["allOf"] = new JsonArray(Strict(Rebase(schema.DeepClone()))),
        };
        var compiled = JsonSchema.FromText(
            root.ToJsonString(), baseUri: new Uri($"urn:shopastro:openapi:response:{Interlocked.Increment(ref s_schemas)}"));
        JsonElement instance;
        try
        {
            instance = JsonDocument.Parse(json).RootElement;
        }
        catch (JsonException exception)
        {
            return [$"not JSON ({exception.Message}): {json}"];
        }

        var result = compiled.Evaluate(instance, Evaluation);
        return result.IsValid
            ? []
            : (result.Details ?? [])
                .Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}"))
                .DefaultIfEmpty("invalid")
                .Select(error => $"{error} in {Shorten(json)}")
                .ToList();
    }

    /// <summary>The document's references into its components, as references into this schema's $defs.</summary>
    private static JsonNode Rebase(JsonNode schema) =>
        JsonNode.Parse(schema.ToJsonString().Replace("\"#/components/schemas/", "\"#/$defs/", StringComparison.Ordinal))!;

    /// <summary>Closes every object that names its members and says nothing of others.</summary>
    private static JsonNode Strict(JsonNode schema)
    {
        if (schema is JsonObject definition)
        {
            if (definition["properties"] is JsonObject && !definition.ContainsKey("additionalProperties") && !definition.ContainsKey("unevaluatedProperties"))
            {
                definition["unevaluatedProperties"] = false;
            }

            foreach (var (_, child) in definition.ToList())
            {
                if (child is not null)
                {
                    Strict(child);
                }
            }
        }
        else if (schema is JsonArray items)
        {
            foreach (var item in items.Where(i => i is not null))
            {
                Strict(item!);
            }
        }

        return schema;
    }

    private static string Shorten(string json) => json.Length <= 300 ? json : json[..300] + "...";
}
