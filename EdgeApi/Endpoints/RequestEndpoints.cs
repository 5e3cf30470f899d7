using System.Text.Json.Serialization.Metadata;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Http;
using ShopAstro.EdgeApi.OpenApi;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>Data-subject requests (§4(5)): 15-working-day deadlines, identity verification, completion, rejection.</summary>
public static class RequestEndpoints
{
    public static RouteGroupBuilder MapRequestEndpoints(this RouteGroupBuilder store)
    {
        store.MapPost("/requests", Register)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("RegisterRequest")
            .WithSummary("Registers an access, correction, deletion, cancellation, withdrawal or explanation request with its due date.")
            .AcceptsJson<DataSubjectRequestBody>()
            .Produces<DataSubjectRequestResponse>(StatusCodes.Status201Created)
            .ProducesProblems(StatusCodes.Status400BadRequest, "invalid_type", "invalid_received_at", "received_in_future", "invalid_verification_method", "invalid_verified_at", "verified_at_in_future")
            .MayConflict()
            .ProducesProblems(StatusCodes.Status422UnprocessableEntity, "calendar_not_covered")
            .WithExamples(ApiExamples.RegisterRequest, ApiExamples.RequestResponse, StatusCodes.Status201Created);
        store.MapGet("/requests", List)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("ListRequests")
            .WithSummary("The store's requests; ?status=open, overdue, completed or rejected.")
            .WithQueryValues("status", "Only the requests open, open past their due date, completed or rejected; absent: all.",
                "open", "overdue", "completed", "rejected")
            .Produces<DataSubjectRequestList>()
            .ProducesProblems(StatusCodes.Status400BadRequest, "invalid_status");
        store.MapGet("/requests/{requestId}", Get)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("GetRequest")
            .WithSummary("One request.")
            .Produces<DataSubjectRequestResponse>()
            .ProducesProblems(StatusCodes.Status404NotFound, "request_not_found");
        store.MapPost("/requests/{requestId}/verify", Verify)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("VerifyRequester")
            .WithSummary("Records how and when the requester's identity was verified: {\"method\":\"sms_code\",\"verifiedAt\":\"...\"}.")
            .AcceptsJson<IdentityVerificationBody>()
            .Produces<DataSubjectRequestResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest, "invalid_verification_method", "invalid_verified_at", "verified_at_in_future")
            .ProducesProblems(StatusCodes.Status404NotFound, "request_not_found")
            .MayConflict("request_closed");
        store.MapPost("/requests/{requestId}/complete", Complete)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("CompleteRequest")
            .WithSummary("Marks a request answered; a deletion or cancellation request (verified requester) erases or cancels the subject first.")
            .Produces<DataSubjectRequestResponse>()
            .ProducesProblems(StatusCodes.Status404NotFound, "request_not_found")
            .MayConflict("request_closed", "identity_not_verified");
        store.MapPost("/requests/{requestId}/reject", Reject)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("RejectRequest")
            .WithSummary("Rejects a request on one of the grounds of §4(5): {\"ground\":\"abuse_of_rights\"}.")
            .AcceptsJson<RejectRequestBody>()
            .Produces<DataSubjectRequestResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest, "invalid_ground")
            .ProducesProblems(StatusCodes.Status404NotFound, "request_not_found")
            .MayConflict("request_closed");
        return store;
    }

    private static async Task<IResult> Register(string storeId, HttpRequest request, IGrainFactory grains, TimeProvider time)
    {
        var body = await ReadAsync(storeId, request, EdgeJsonContext.Default.DataSubjectRequestBody);
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
        if (RequestInput.TryReadTime(registration.ReceivedAt, "receivedAt", now, out var receivedAt) is { } badTime)
        {
            return badTime;
        }

        IdentityVerification? verification = null;
        if (registration.IdentityVerification is { } verified
            && RequestInput.TryReadVerification(verified, now, out verification) is { } badVerification)
        {
            return badVerification;
        }

        var change = await grains.GetGrain<IStoreRequestsGrain>(storeId)
            .Register(new RequestRegistration(registration.SubjectId!, type, receivedAt, verification));
        return change.Status == RequestChangeStatus.Done
            ? TypedResults.Created($"/v1/stores/{storeId}/requests/{change.Request!.Id}", change.Request.ToResponse(now))
            : Answer(change, now);
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
            case "rejected": filter = RequestFilter.Rejected; break;
            default: return EdgeProblems.BadRequest("invalid_status", "'status' must be open, overdue, completed or rejected.");
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

        var found = IsPlausibleId(requestId) ? await grains.GetGrain<IStoreRequestsGrain>(storeId).Get(requestId) : null;
        return found is null ? RequestNotFound() : TypedResults.Ok(found.ToResponse(time.GetUtcNow()));
    }

    private static async Task<IResult> Verify(string storeId, string requestId, HttpRequest request, IGrainFactory grains, TimeProvider time)
    {
        var body = await ReadAsync(storeId, request, EdgeJsonContext.Default.IdentityVerificationBody);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        var now = time.GetUtcNow();
        return RequestInput.TryReadVerification(body.Value!, now, out var verification) is { } problem
            ? problem
            : await ChangeAsync(grains, storeId, requestId, now, requests => requests.Verify(requestId, verification!));
    }

    private static async Task<IResult> Complete(string storeId, string requestId, IGrainFactory grains, TimeProvider time) =>
        Ids.Reject(storeId) ?? await ChangeAsync(grains, storeId, requestId, time.GetUtcNow(), requests => requests.Complete(requestId));

    private static async Task<IResult> Reject(string storeId, string requestId, HttpRequest request, IGrainFactory grains, TimeProvider time)
    {
        var body = await ReadAsync(storeId, request, EdgeJsonContext.Default.RejectRequestBody);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        return RejectionGrounds.TryParse(body.Value!.Ground, out var ground)
            ? await ChangeAsync(grains, storeId, requestId, time.GetUtcNow(), requests => requests.Reject(requestId, ground))
            : EdgeProblems.BadRequest("invalid_ground",
                $"'ground' must be one of the grounds of §4(5) of the privacy policy: {RejectionGrounds.AllIds}.");
    }

    /// <summary>The JSON body of a request to a valid store, or the problem that answers it.</summary>
    private static async Task<Body<T>> ReadAsync<T>(string storeId, HttpRequest request, JsonTypeInfo<T> typeInfo) where T : class =>
        Ids.Reject(storeId) is { } invalid ? new(null, invalid) : await JsonBody.ReadAsync(request, typeInfo);

    private static async Task<IResult> ChangeAsync(
        IGrainFactory grains, string storeId, string requestId, DateTimeOffset now, Func<IStoreRequestsGrain, Task<RequestChange>> change) =>
        IsPlausibleId(requestId) ? Answer(await change(grains.GetGrain<IStoreRequestsGrain>(storeId)), now) : RequestNotFound();

    private static bool IsPlausibleId(string requestId) => requestId.Length <= 64;

    private static IResult RequestNotFound() => EdgeProblems.NotFound("request_not_found", "The store has no request with this id.");

    private static IResult Answer(RequestChange change, DateTimeOffset now) => change.Status switch
    {
        RequestChangeStatus.Done => TypedResults.Ok(change.Request!.ToResponse(now)),
        RequestChangeStatus.NotFound => RequestNotFound(),
        RequestChangeStatus.CalendarNotCovered => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity, "calendar_not_covered",
            "The due date runs past the working-day calendar.",
            "The configured calendar does not cover every day up to the due date; add the next year's calendar (Requests:CalendarFolder)."),
        RequestChangeStatus.AlreadyClosed => EdgeProblems.Result(StatusCodes.Status409Conflict, "request_closed",
            "The request is already closed.", $"It was {(change.Request!.Status == RequestStatus.Rejected ? "rejected" : "completed")}."),
        RequestChangeStatus.IdentityNotVerified => EdgeProblems.Result(StatusCodes.Status409Conflict, "identity_not_verified",
            "The requester's identity is not verified.",
            "A deletion or cancellation request is completed only after POST .../verify (or identityVerification at registration)."),
        _ => throw new InvalidOperationException($"Unknown request change {change.Status}."),
    };
}
