using System.Text.Json.Nodes;
using Microsoft.OpenApi;
using ShopAstro.Grains.Downstream;

namespace ShopAstro.EdgeApi.OpenApi;

/// <summary>
/// The event the cluster POSTs to each downstream system a store registers (<c>POST .../downstream</c>), as an OpenAPI
/// 3.1 webhook: its body, as <see cref="DownstreamEvents"/> writes it, and the signature headers of
/// <see cref="WebhookSignature"/>. A receiver's team can generate its handler's types from it like a client's.
/// </summary>
internal static class DownstreamWebhook
{
    public const string Name = "downstreamEvent";
    public const string EventSchema = "DownstreamEvent";

    public static void AddTo(OpenApiDocument document)
    {
        document.Components!.Schemas![EventSchema] = Event();
        document.Webhooks ??= new Dictionary<string, IOpenApiPathItem>();
        document.Webhooks[Name] = new OpenApiPathItem
        {
            Operations = new Dictionary<HttpMethod, OpenApiOperation>
            {
                [HttpMethod.Post] = new()
                {
                    OperationId = "DeliverDownstreamEvent",
                    Summary = "A withdrawal, deletion, cancellation or minor flag, sent to each registered downstream system.",
                    Description = "Sent at least once, in the order of the subject's changes; a system that has not acknowledged an event "
                        + "gets it again (deduplicate on `id`). Verify the signature before acting: recompute HMAC-SHA256 under the "
                        + "system's secret (UTF-8) over `<ShopAstro-Timestamp>.<body>` (the exact bytes received), compare it with "
                        + "`ShopAstro-Signature` in constant time, and refuse a timestamp more than a few minutes from your clock.",
                    Tags = new HashSet<OpenApiTagReference> { new(EdgeOperations.StoresTag, document) },
                    Security = [],
                    Parameters =
                    [
                        Header(WebhookSignature.EventIdHeader, "The event's id, the same as the body's `id`.", new OpenApiSchema { Type = JsonSchemaType.String }),
                        Header(WebhookSignature.TimestampHeader, "When this attempt was sent, in Unix seconds.",
                            new OpenApiSchema { Type = JsonSchemaType.String, Pattern = "^[0-9]+$" }),
                        Header(WebhookSignature.SignatureHeader, "`v1=` and the lowercase hex of HMAC-SHA256 over `<ShopAstro-Timestamp>.<body>`.",
                            new OpenApiSchema { Type = JsonSchemaType.String, Pattern = "^v1=[0-9a-f]{64}$" }),
                    ],
                    RequestBody = new OpenApiRequestBody
                    {
                        Required = true,
                        Content = new Dictionary<string, OpenApiMediaType>
                        {
                            ["application/json"] = new()
                            {
                                Schema = new OpenApiSchemaReference(EventSchema, document),
                                Example = JsonNode.Parse(
                                    """{"id":"01a2b3c4d5e6f708090a0b0c0d0e0f10","type":"withdrawal","storeId":"s1","subjectId":"u1","purposes":["analytics"],"at":"2026-12-05T08:00:00.123Z"}"""),
                            },
                        },
                    },
                    Responses = new OpenApiResponses
                    {
                        ["2XX"] = new OpenApiResponse
                        {
                            Description = "Acknowledged: any 2xx within Downstream:DeliveryTimeout. Anything else, a redirect included, "
                                + "is a failure, retried with backoff until Downstream:GiveUpAfter.",
                        },
                    },
                },
            },
        };
    }

    private static OpenApiSchema Event() => new()
    {
        Type = JsonSchemaType.Object,
        Description = "One change a downstream system must act on (§3(4) of the privacy policy): consent withdrawn for the named "
            + "purposes, the subject's data deleted or the account cancelled, or the subject found to be a minor, who is not tracked.",
        Required = new HashSet<string> { "id", "type", "storeId", "subjectId", "at" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["id"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "Unique per event; repeated deliveries carry the same id." },
            ["type"] = OperationDocs.Strings(DownstreamEvents.Types),
            ["storeId"] = Described(ContractSchemas.Ids(new OpenApiSchema { Type = JsonSchemaType.String }), "The store."),
            ["subjectId"] = Described(ContractSchemas.Ids(new OpenApiSchema { Type = JsonSchemaType.String }), "The shopper."),
            ["purposes"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Array,
                MinItems = 1,
                Description = "Only for withdrawal: the purposes whose latest choice became a withdrawal in this change.",
                Items = OperationDocs.Strings(ContractSchemas.ConsentPurposeIds),
            },
            ["at"] = new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time", Description = "When the change was made (UTC)." },
        },
    };

    private static OpenApiSchema Described(OpenApiSchema schema, string description)
    {
        schema.Description = description;
        return schema;
    }

    private static OpenApiParameter Header(string name, string description, OpenApiSchema schema) => new()
    {
        Name = name, In = ParameterLocation.Header, Required = true, Description = description, Schema = schema,
    };
}
