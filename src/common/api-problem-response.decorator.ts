import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, ApiResponseOptions, getSchemaPath } from '@nestjs/swagger';
import { FieldError, problem, PROBLEM_JSON, ProblemDetails, ValidationProblemDetails } from './problem-details.dto';

/**
 * Documents an error answer as `application/problem+json`, with an example body. Giving `errors` documents it as
 * a validation problem.
 */
export function ApiProblemResponse(
  status: number,
  description: string,
  example: { detail: string; errors?: FieldError[] },
  headers?: ApiResponseOptions['headers'],
) {
  const type = example.errors ? ValidationProblemDetails : ProblemDetails;
  return applyDecorators(
    ApiExtraModels(type),
    ApiResponse({
      status,
      description,
      headers,
      content: {
        [PROBLEM_JSON]: {
          schema: { $ref: getSchemaPath(type) },
          example: { ...problem(status, example.detail), ...(example.errors && { errors: example.errors }) },
        },
      },
    }),
  );
}
