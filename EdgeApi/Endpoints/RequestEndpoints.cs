using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Http;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>Data-subject requests (§4(5)) and their 15-working-day deadlines.</summary>
public static partial class RequestEndpoints
{
    /// <summary>Clocks disagree a little; a receipt time further in the future than this is a mistake.</summary>
    private static readonly TimeSpan AllowedClockSkew = TimeSpan.FromMinutes(5);

    public static RouteGroupBuilder MapRequestEndpoints(this RouteGroupBuilder store)
    {
        store.MapPost("/requests", Register)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("RegisterRequest")
            .WithSummary("Registers an access, correction, deletion, cancellation, withdrawal or explanation request with its due date.");
        store.MapGet("/requests", List)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("ListRequests")
            .WithSummary("The store's requests; ?status=open, overdue or completed.");
        store.MapGet("/requests/{requestId}", Get)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("GetRequest")
            .WithSummary("One request.");
        store.MapPost("/requests/{requestId}/complete", Complete)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("CompleteRequest")
            .WithSummary("Marks a request answered.");
        return store;
    }

    private static async Task<IResult> Register(string storeId, HttpRequest request, IGrainFactory grains, TimeProvider time)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var body = await JsonBody.ReadAsync(request, EdgeJsonContext.Default.DataSubjectRequestBody);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        var registration = body.Value!;
        if (!Ids.IsValid(registration.SubjectId))
        {
            return EdgeProblems.InvalidId("subjectId");
        }

        if (!RequestTypes.TryParse(registration.Type, out var type))
        {
            return EdgeProblems.BadRequest("invalid_type",
                "'type' must be access, correction, deletion, cancellation, withdrawal or explanation.");
        }

        var now = time.GetUtcNow();
        DateTimeOffset receivedAt;
        if (registration.ReceivedAt is null)
        {
            receivedAt = now;
        }
        else if (!TryParseRfc3339(registration.ReceivedAt, out receivedAt) || receivedAt.Year < 2000)
        {
            return EdgeProblems.BadRequest("invalid_received_at",
                "'receivedAt' must be an RFC 3339 time with an offset, e.g. 2026-11-27T09:00:00Z.");
        }

        if (receivedAt > now + AllowedClockSkew)
        {
            return EdgeProblems.BadRequest("received_in_future", "'receivedAt' lies in the future.");
        }

        var registered = await grains.GetGrain<IStoreRequestsGrain>(storeId).Register(registration.SubjectId!, type, receivedAt);
        return TypedResults.Created($"/v1/stores/{storeId}/requests/{registered.Id}", registered.ToResponse(now));
    }

    private static async Task<IResult> List(string storeId, string? status, IGrainFactory grains, TimeProvider time)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        RequestFilter filter;
        switch (status)
        {
            case null: filter = RequestFilter.All; break;
            case "open": filter = RequestFilter.Open; break;
            case "overdue": filter = RequestFilter.Overdue; break;
            case "completed": filter = RequestFilter.Completed; break;
            default: return EdgeProblems.BadRequest("invalid_status", "'status' must be open, overdue or completed.");
        }

        var requests = await grains.GetGrain<IStoreRequestsGrain>(storeId).List(filter);
        var now = time.GetUtcNow();
        return TypedResults.Ok(new DataSubjectRequestList(requests.Select(r => r.ToResponse(now)).ToArray()));
    }

    private static async Task<IResult> Get(string storeId, string requestId, IGrainFactory grains, TimeProvider time)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var found = requestId.Length <= 64 ? await grains.GetGrain<IStoreRequestsGrain>(storeId).Get(requestId) : null;
        return found is null
            ? EdgeProblems.NotFound("request_not_found", "The store has no request with this id.")
            : TypedResults.Ok(found.ToResponse(time.GetUtcNow()));
    }

    private static bool TryParseRfc3339(string text, out DateTimeOffset value)
    {
        value = default;
        return Rfc3339().IsMatch(text)
            && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out value);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial System.Text.RegularExpressions.Regex Rfc3339();

    private static async Task<IResult> Complete(string storeId, string requestId, IGrainFactory grains, TimeProvider time)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var completed = requestId.Length <= 64 ? await grains.GetGrain<IStoreRequestsGrain>(storeId).Complete(requestId) : null;
        return completed is null
            ? EdgeProblems.NotFound("request_not_found", "The store has no request with this id.")
            : TypedResults.Ok(completed.ToResponse(time.GetUtcNow()));
    }
}
