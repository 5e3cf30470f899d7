using System.Collections.Immutable;
using Microsoft.AspNetCore.Authorization;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Http;
using ShopAstro.EdgeApi.OpenApi;
using ShopAstro.EdgeApi.Telemetry;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>One shopper at one store: consent writes, the record (access), deletion, cancellation, age and linking.</summary>
public static class SubjectEndpoints
{
    public static RouteGroupBuilder MapSubjectEndpoints(this RouteGroupBuilder store)
    {
        store.MapPut("/subjects/{subjectId}/consents", SetConsents)
            .RequireAuthorization(EdgePolicies.Storefront)
            .WithName("SetConsents")
            .WithSummary("Records choices; answers with the subject record once the change is durable.")
            .ReadsPrivacySignals()
            .AcceptsJson<ConsentRequest>()
            .Produces<SubjectRecordResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest,
                "purposes_required", "unknown_purpose", "purpose_not_consent_based", "policy_version_required", "invalid_source")
            .MayConflict("subject_cancelled", "subject_minor")
            .ProducesProblems(StatusCodes.Status422UnprocessableEntity, "policy_not_published", "policy_version_ahead")
            .WithExamples(ApiExamples.ConsentRequest, ApiExamples.SubjectRecord);
        store.MapGet("/subjects/{subjectId}", GetSubject)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("GetSubject")
            .WithSummary("The subject record with every consent receipt and the receipts' hash chain (access request).")
            .Produces<SubjectRecordResponse>()
            .ProducesProblems(StatusCodes.Status404NotFound, "subject_not_found")
            .WithExamples(request: null, ApiExamples.SubjectRecord);
        store.MapDelete("/subjects/{subjectId}", Delete)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("DeleteSubject")
            .WithSummary("Deletion: the data is removed, receipts kept only anonymised; the shopper may consent again.")
            .Produces(StatusCodes.Status204NoContent)
            .MayConflict();
        store.MapPost("/subjects/{subjectId}/cancel", Cancel)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("CancelAccount")
            .WithSummary("Account cancellation: irreversible; data removed, every later check answers account_cancelled.")
            .Produces(StatusCodes.Status204NoContent)
            .MayConflict();
        store.MapPut("/subjects/{subjectId}/age", SetAge)
            .RequireAuthorization(EdgePolicies.Storefront)
            .WithName("SetAge")
            .WithSummary("{\"minor\":true}: the data is removed and every check but necessary answers minor; {\"minor\":false} (sellers and admins) lifts it.")
            .AcceptsJson<AgeRequest>()
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblems(StatusCodes.Status400BadRequest, "minor_required")
            .MayConflict("subject_cancelled");
        store.MapPost("/subjects/{subjectId}/link", Link)
            .RequireAuthorization(EdgePolicies.Storefront)
            .WithName("LinkAnonymous")
            .WithSummary("Carries an anon: visitor's choices over where the account has none, then deletes the visitor.")
            .AcceptsJson<LinkRequest>()
            .Produces<SubjectRecordResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest, "invalid_anonymous_id", "not_an_account")
            .MayConflict("subject_cancelled", "subject_minor");
        return store;
    }

    private static async Task<IResult> Delete(string storeId, string subjectId, IGrainFactory grains)
    {
        if (Ids.Reject(storeId, subjectId) is { } invalid)
        {
            return invalid;
        }

        await Subject(grains, storeId, subjectId).Erase();
        return TypedResults.NoContent();
    }

    private static async Task<IResult> Cancel(string storeId, string subjectId, IGrainFactory grains)
    {
        if (Ids.Reject(storeId, subjectId) is { } invalid)
        {
            return invalid;
        }

        await Subject(grains, storeId, subjectId).Cancel();
        return TypedResults.NoContent();
    }

    private static async Task<IResult> SetAge(
        string storeId, string subjectId, HttpRequest request, IGrainFactory grains, IAuthorizationService authorization)
    {
        if (Ids.Reject(storeId, subjectId) is { } invalid)
        {
            return invalid;
        }

        var body = await JsonBody.ReadAsync(request, EdgeJsonContext.Default.AgeRequest);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        if (body.Value!.Minor is not { } minor)
        {
            return EdgeProblems.BadRequest("minor_required", "'minor' must be true or false.");
        }

        // Anyone the storefront serves may say a shopper is a minor; only the store itself may say otherwise.
        if (!minor && !(await authorization.AuthorizeAsync(request.HttpContext.User, request.HttpContext, EdgePolicies.Seller)).Succeeded)
        {
            return TypedResults.Forbid();
        }

        var status = await Subject(grains, storeId, subjectId).SetMinor(minor);
        return status == ConsentWriteStatus.Recorded ? TypedResults.NoContent() : Refused(status, 0);
    }

    private static async Task<IResult> Link(string storeId, string subjectId, HttpRequest request, IGrainFactory grains)
    {
        if (Ids.Reject(storeId, subjectId) is { } invalid)
        {
            return invalid;
        }

        var body = await JsonBody.ReadAsync(request, EdgeJsonContext.Default.LinkRequest);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        var anonymousId = body.Value!.AnonymousId;
        if (!Ids.IsValid(anonymousId) || !anonymousId!.StartsWith(Ids.AnonymousPrefix, StringComparison.Ordinal))
        {
            return EdgeProblems.BadRequest("invalid_anonymous_id", "'anonymousId' must be a valid subject id starting with anon:.");
        }

        if (subjectId.StartsWith(Ids.AnonymousPrefix, StringComparison.Ordinal))
        {
            return EdgeProblems.BadRequest("not_an_account", "Only an account (a subject id not starting with anon:) can be linked to.");
        }

        var result = await Subject(grains, storeId, subjectId).Link(anonymousId);
        return result.Status == ConsentWriteStatus.Recorded
            ? TypedResults.Ok(result.Record!.ToResponse(storeId, subjectId))
            : Refused(result.Status, 0);
    }

    private static ISubjectGrain Subject(IGrainFactory grains, string storeId, string subjectId) =>
        grains.Of<ISubjectGrain>(SubjectKey.Of(storeId, subjectId));

    private static async Task<IResult> SetConsents(string storeId, string subjectId, HttpRequest request, IGrainFactory grains, EdgeMetrics metrics)
    {
        if (Ids.Reject(storeId, subjectId) is { } invalid)
        {
            return invalid;
        }

        var body = await JsonBody.ReadAsync(request, EdgeJsonContext.Default.ConsentRequest);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        var consent = body.Value!;
        if (consent.Purposes is not { Count: > 0 })
        {
            return EdgeProblems.BadRequest("purposes_required", "'purposes' must name at least one purpose.");
        }

        var choices = ImmutableDictionary.CreateBuilder<Purpose, bool>();
        foreach (var (id, granted) in consent.Purposes)
        {
            if (!Purposes.TryParse(id, out var purpose))
            {
                return EdgeProblems.UnknownPurpose(id);
            }

            if (!purpose.IsConsentBased())
            {
                return EdgeProblems.BadRequest("purpose_not_consent_based",
                    $"'{id}' does not rest on consent and cannot be granted or withdrawn.");
            }

            choices[purpose] = granted;
        }

        if (consent.PolicyVersion is not >= 1)
        {
            return EdgeProblems.BadRequest("policy_version_required", "'policyVersion' must be the policy version shown to the shopper (1 or more).");
        }

        if (!ConsentSources.TryParse(consent.Source, out var source))
        {
            return EdgeProblems.BadRequest("invalid_source", "'source' must be banner, account_settings, api or import.");
        }

        var update = new ConsentUpdate(choices.ToImmutable(), consent.PolicyVersion.Value, source, PrivacySignals.From(request));
        var result = await Subject(grains, storeId, subjectId).SetConsents(update);
        metrics.ConsentWritten(source, result.Status == ConsentWriteStatus.Recorded ? "recorded" : "refused");
        return result.Status == ConsentWriteStatus.Recorded
            ? TypedResults.Ok(result.Record!.ToResponse(storeId, subjectId))
            : Refused(result.Status, update.PolicyVersion);
    }

    private static IResult Refused(ConsentWriteStatus status, int policyVersion) => status switch
    {
        ConsentWriteStatus.StoreUnknown => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity, "policy_not_published",
            "The store has not published a policy.", "Consent refers to a policy version; publish one first."),
        ConsentWriteStatus.PolicyVersionAhead => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity, "policy_version_ahead",
            "The policy version is above the store's current version.", $"policyVersion {policyVersion} has not been published."),
        ConsentWriteStatus.SubjectCancelled => EdgeProblems.Result(StatusCodes.Status409Conflict, "subject_cancelled",
            "The account was cancelled.", "Cancellation is irreversible; nothing was recorded."),
        ConsentWriteStatus.SubjectMinor => EdgeProblems.Result(StatusCodes.Status409Conflict, "subject_minor",
            "The subject is a minor.", "Minors' consent is not recorded; nothing was recorded."),
        _ => throw new InvalidOperationException($"Unexpected consent write status {status}."),
    };

    private static async Task<IResult> GetSubject(string storeId, string subjectId, IGrainFactory grains)
    {
        if (Ids.Reject(storeId, subjectId) is { } invalid)
        {
            return invalid;
        }

        var record = await Subject(grains, storeId, subjectId).GetRecord();
        return record is null
            ? EdgeProblems.NotFound("subject_not_found", "Nothing was ever recorded for this subject at this store.")
            : TypedResults.Ok(record.ToResponse(storeId, subjectId));
    }
}
