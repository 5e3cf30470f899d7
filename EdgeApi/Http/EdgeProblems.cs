using Microsoft.AspNetCore.Mvc;

namespace ShopAstro.EdgeApi.Http;

/// <summary>RFC 9457 problem details with a stable <c>code</c> (and <c>type</c> derived from it).</summary>
public static class EdgeProblems
{
    public const string TypePrefix = "urn:shopastro:problem:";

    public static ProblemDetails Details(int status, string code, string title, string? detail = null)
    {
        var problem = new ProblemDetails { Status = status, Type = TypePrefix + code, Title = title, Detail = detail };
        problem.Extensions["code"] = code;
        return problem;
    }

    /// <summary>
    /// The problem as the response, with its status, from middleware that answers before (or instead of) an endpoint.
    /// </summary>
    public static Task WriteAsync(HttpResponse response, ProblemDetails problem)
    {
        response.StatusCode = problem.Status!.Value;
        return response.WriteAsJsonAsync(problem, EdgeJsonContext.Default.ProblemDetails, "application/problem+json", response.HttpContext.RequestAborted);
    }

    public static IResult Result(int status, string code, string title, string? detail = null) =>
        TypedResults.Problem(Details(status, code, title, detail));

    public static IResult BadRequest(string code, string detail) =>
        Result(StatusCodes.Status400BadRequest, code, "The request is not valid.", detail);

    public static IResult InvalidId(string name) =>
        BadRequest("invalid_id", $"'{name}' must be 1 to 128 characters of A-Z a-z 0-9 . _ : -");

    public static IResult UnknownPurpose(string? purpose) =>
        BadRequest("unknown_purpose", $"'{purpose}' is not a purpose. Purposes: necessary, cart, analytics, recommendation, advertising, affiliate_sharing.");

    /// <summary>413: a body over <see cref="JsonBody.MaxBytes"/>, whichever route it was sent to.</summary>
    public static ProblemDetails BodyTooLarge() =>
        Details(StatusCodes.Status413PayloadTooLarge, "body_too_large", "The request body is too large.",
            $"Request bodies are limited to {JsonBody.MaxBytes} bytes.");

    public static IResult NotFound(string code, string detail) =>
        Result(StatusCodes.Status404NotFound, code, "Not found.", detail);
}
