using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using ShopAstro.EdgeApi.Http;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.OpenApi;

/// <summary>
/// What the schemas generated from <see cref="Contracts"/>' records cannot know by themselves: which members are
/// required, the closed sets of values the contract names (purposes, reasons, sources, ...), the ids' syntax, and the
/// <c>code</c> of problem details.
/// </summary>
internal sealed class ContractSchemas : IOpenApiSchemaTransformer
{
    /// <summary>
    /// Request bodies have nullable members so that the route refuses a missing one with its own code: these are the
    /// members it refuses to go without. Every other contract record is a response, whose members are all written
    /// (null or not), so all required, except those left out when null (<see cref="JsonIgnoreAttribute"/>).
    /// </summary>
    private static readonly Dictionary<Type, string[]> RequestRequired = new()
    {
        [typeof(BatchRequest)] = ["items"],
        [typeof(BatchItem)] = ["subjectId", "purpose"],
        [typeof(BatchSignals)] = [],
        [typeof(ConsentRequest)] = ["purposes", "policyVersion", "source"],
        [typeof(PolicyRequest)] = ["version"],
        [typeof(PurposeSettingRequest)] = ["enabled"],
        [typeof(AgeRequest)] = ["minor"],
        [typeof(LinkRequest)] = ["anonymousId"],
        [typeof(DataSubjectRequestBody)] = ["subjectId", "type"],
        [typeof(IdentityVerificationBody)] = ["method"],
        [typeof(RejectRequestBody)] = ["ground"],
    };

    public static readonly string[] PurposeIds = [.. Purposes.All.Select(p => p.ToId())];
    public static readonly string[] ConsentPurposeIds = [.. Purposes.ConsentBased.Select(p => p.ToId())];

    /// <summary>The contract's closed sets, by the JSON name of the member that carries one, and where it is not the same everywhere, its record.</summary>
    private static readonly Dictionary<string, string[]> ValuesByMember = new()
    {
        ["purpose"] = PurposeIds,
        ["reason"] = [.. Enum.GetValues<DecisionReason>().Select(r => r.ToCode())],
        ["source"] = [.. Enum.GetValues<ConsentSource>().Select(s => s.ToId())],
        ["event"] = [.. Enum.GetValues<ReceiptEvent>().Select(e => e.ToId())],
        ["method"] = [.. Enum.GetValues<VerificationMethod>().Select(m => m.ToId())],
        ["ground"] = [.. Enum.GetValues<RejectionGround>().Select(g => g.ToId())],
        ["rejectionGround"] = [.. Enum.GetValues<RejectionGround>().Select(g => g.ToId())],
    };

    private static readonly Dictionary<(Type, string), string[]> ValuesByRecord = new()
    {
        [(typeof(SubjectRecordResponse), "status")] = [.. Enum.GetValues<SubjectStatus>().Select(s => s.ToId())],
        [(typeof(PolicyRequest), "status")] = ["active", "suspended"],
        [(typeof(PolicyResponse), "status")] = ["active", "suspended"],
        [(typeof(ScheduledPolicyResponse), "status")] = ["active", "suspended"],
        [(typeof(DataSubjectRequestResponse), "status")] = ["open", "completed", "rejected"],
        [(typeof(DataSubjectRequestBody), "type")] = [.. Enum.GetValues<RequestType>().Select(t => t.ToId())],
        [(typeof(DataSubjectRequestResponse), "type")] = [.. Enum.GetValues<RequestType>().Select(t => t.ToId())],
    };

    /// <summary>Members that hold a store or subject id.</summary>
    private static readonly HashSet<string> IdMembers = ["storeId", "subjectId", "anonymousId"];

    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var type = context.JsonTypeInfo.Type;
        if (type == typeof(ProblemDetails))
        {
            DescribeProblem(schema);
        }
        else if (IsContract(type) && schema.Properties is { Count: > 0 })
        {
            // A record, whether reached as a body, an array's items or another record's member.
            schema.Required = RequestRequired.TryGetValue(type, out var required)
                ? required.ToHashSet()
                : context.JsonTypeInfo.Properties.Where(p => !LeftOutWhenNull(p)).Select(p => p.Name).ToHashSet();
        }
        else if (context.JsonPropertyInfo is { } member && IsContract(member.DeclaringType))
        {
            DescribeMember(schema, member);
        }

        return Task.CompletedTask;
    }

    private static bool IsContract(Type type) => type.Namespace == typeof(DecisionResponse).Namespace;

    private static void DescribeMember(OpenApiSchema schema, System.Text.Json.Serialization.Metadata.JsonPropertyInfo member)
    {
        // Left out when null, or required in a request: present, it is never null.
        if ((LeftOutWhenNull(member) || RequestRequired.GetValueOrDefault(member.DeclaringType)?.Contains(member.Name) == true)
            && schema.Type is { } type)
        {
            schema.Type = type & ~JsonSchemaType.Null;
        }

        var values = ValuesByRecord.GetValueOrDefault((member.DeclaringType, member.Name)) ?? ValuesByMember.GetValueOrDefault(member.Name);
        if (values is not null && schema.Type?.HasFlag(JsonSchemaType.String) == true)
        {
            schema.Enum = [.. values.Select(v => (JsonNode)JsonValue.Create(v)), .. schema.Type.Value.HasFlag(JsonSchemaType.Null) ? [null!] : Array.Empty<JsonNode>()];
        }
        else if (IdMembers.Contains(member.Name) && schema.Type?.HasFlag(JsonSchemaType.String) == true)
        {
            Ids(schema);
        }

        if (member.Name is "receivedAt" or "verifiedAt" or "effectiveAt" && schema.Type?.HasFlag(JsonSchemaType.String) == true)
        {
            schema.Format = "date-time";
        }
    }

    /// <summary>
    /// Maps keyed by purpose (a policy's, a record's consents, the statistics): the set of purposes is closed, so each
    /// is a named, optional member, which client generators turn into typed properties (a map's values would be
    /// untyped). On the finished document: schema transformers see a map's values only through the map.
    /// </summary>
    public static void NamePurposeMembers(OpenApiDocument document)
    {
        foreach (var (name, component) in document.Components?.Schemas ?? new Dictionary<string, IOpenApiSchema>())
        {
            foreach (var (member, map) in component.Properties ?? new Dictionary<string, IOpenApiSchema>())
            {
                if (member is "purposes" or "consents" && map is OpenApiSchema { AdditionalProperties: { } value } schema)
                {
                    var keys = name == nameof(ConsentRequest) ? ConsentPurposeIds : PurposeIds;
                    schema.Properties = keys.ToDictionary(key => key, _ => value);
                    schema.AdditionalProperties = null;
                    schema.AdditionalPropertiesAllowed = false;
                }
            }
        }
    }

    /// <summary>RFC 9457 problem details as every route writes them (<see cref="EdgeProblems"/>), with the stable <c>code</c>.</summary>
    private static void DescribeProblem(OpenApiSchema schema)
    {
        schema.Description = "RFC 9457 problem details; `code` is stable (and `type` is urn:shopastro:problem:{code}).";
        schema.Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = Text("urn:shopastro:problem:{code}, or a URI naming the HTTP status."),
            ["title"] = Text("A short summary of the problem's kind."),
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Description = "The HTTP status code." },
            ["detail"] = Text("What went wrong with this request."),
            ["instance"] = Text("The occurrence of the problem, when named."),
            ["code"] = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Pattern = "^[a-z0-9_]+$",
                Description = "The stable code of the problem, e.g. invalid_id; each response lists the codes it can carry.",
            },
            ["traceId"] = Text("Names the request in the service's logs."),
        };
        schema.Required = new HashSet<string> { "type", "title", "status", "code" };
    }

    private static OpenApiSchema Text(string description) => new() { Type = JsonSchemaType.String, Description = description };

    /// <summary>Store and subject ids: 1 to 128 characters of <c>A-Z a-z 0-9 . _ : -</c> (<see cref="Http.Ids"/>).</summary>
    public static OpenApiSchema Ids(OpenApiSchema schema)
    {
        schema.MinLength = 1;
        schema.MaxLength = Http.Ids.MaxLength;
        schema.Pattern = "^[A-Za-z0-9._:-]+$";
        return schema;
    }

    private static bool LeftOutWhenNull(System.Text.Json.Serialization.Metadata.JsonPropertyInfo member) =>
        member.AttributeProvider?.GetCustomAttributes(typeof(JsonIgnoreAttribute), inherit: false)
            .OfType<JsonIgnoreAttribute>().Any(a => a.Condition == JsonIgnoreCondition.WhenWritingNull) == true;
}
